Feature: The operations summary
  An administrator sees the platform's figures in one place (GET /api/monitor/summary, `huice monitor
  summary`), each one read from the context that owns it; the live stream pushes the same summary.

  Background:
    Given an admin who signed in and 2 other users, 1 of them verified

  Scenario: The summary counts users, strategies, runs and failures exactly
    Given a strategy copied from the template "ma_cross" with 2 versions and a strategy written by hand
    And a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | running   | 10     |       |
      | running   | 20     |       |
      | failed    | 30     | 5     |
      | succeeded | 40     | 60    |
    And 1 sweep running and 1 finished, and share links visited 3 and 4 times
    And a live worker
    When the admin asks for the summary over "24h"
    Then the users are 3 in total, 2 verified, 1 active in the last day and 1 in the last 30 days
    And there are 2 strategies with 3 versions, 1 of them from the template "ma_cross"
    And there is 1 backtest with 4 runs
    And the runs by status are "failed=1, running=2, succeeded=1"
    And 2 runs are running and 0 are queued
    And the run queue wait is p50 20 s, p95 40 s and mean 25 s
    And the run time is p50 60 s and p95 60 s
    And the run failure rate is 0.5 and the run completion rate is 0.5
    And 1 worker is alive, the same number the queue statistics report
    And 1 sweep is running and the share links were visited 7 times

  Scenario: Timings and rates cover only the window
    Given a backtest with these runs submitted 2 days ago:
      | status    | wait_s | run_s |
      | succeeded | 5      | 10    |
    When the admin asks for the summary over "24h"
    Then the run queue wait and the run failure rate are unknown
    When the admin asks for the summary over "7d"
    Then the run queue wait is p50 5 s, p95 5 s and mean 5 s
    And the run failure rate is 0 and the run completion rate is 1

  Scenario: An unknown window is refused
    When the admin asks for the summary over "2w"
    Then the answer is 422 INVALID_INPUT naming the field "window"

  Scenario: The CLI prints the same figures
    Given a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | running   | 10     |       |
    When the admin runs "huice monitor summary --json"
    Then the CLI figures equal the API's
    When the admin runs "huice monitor summary"
    Then the table shows "runs running / queued" as "1 / 0"

  Scenario: The stream pushes the same summary as REST
    Given a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | failed    | 3      | 1     |
    When the admin opens the summary stream
    Then its first event is a summary equal to the REST summary but for the time it was made

  Scenario: The WebSocket pushes the same summary as REST
    Given a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | succeeded | 3      | 1     |
    When the admin opens the summary WebSocket
    Then its first message is a summary equal to the REST summary but for the time it was made
