Feature: Prometheus metrics
  `/metrics` serves the Prometheus text format: HTTP requests of the API process, and jobs, queues,
  workers, run durations and alerts read from PostgreSQL and Redis at scrape time (so the workers' work
  is included). With HUICE_METRICS_TOKEN set it needs that token.

  Background:
    Given an admin who signed in and 0 other users, 0 of them verified

  Scenario: A scrape over HTTP after a run shows the run's counters
    Given a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | succeeded | 2      | 3     |
    And the API serves on a local port
    When a client requests GET /api/monitor/summary over HTTP as the admin
    And a client scrapes /metrics over HTTP
    Then the metrics count 1 succeeded "backtest.run" job
    And the run duration histogram has 1 observation of 3 s
    And the HTTP request counter has the route "/api/monitor/summary" with status 200

  Scenario Outline: A missing or wrong metrics token is refused
    Given the metrics token is "s3cret-token"
    When a client scrapes /metrics with the authorization "<authorization>"
    Then the answer is 401 UNAUTHORIZED

    Examples:
      | authorization       |
      |                     |
      | Bearer wrong-token  |
      | Basic s3cret-token  |

  Scenario: The right metrics token is accepted
    Given the metrics token is "s3cret-token"
    When a client scrapes /metrics with the authorization "Bearer s3cret-token"
    Then the metrics are served in the Prometheus text format
