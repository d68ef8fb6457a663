Feature: Monthly quotas counted when runs are accepted, and the research-use disclaimer before the first run
  Every accepted run counts against the account's monthly `runs` quota in PostgreSQL, in the submitting
  transaction, by one atomic upsert. Soft by default: past the limit the run is accepted and the answer
  carries the X-Quota-* hint; a quota made hard for the plan refuses with 429 RATE_LIMITED naming it.
  With HUICE_REQUIRE_DISCLAIMER on, an account runs nothing before accepting the disclaimer.

  Scenario: A soft quota hints past the limit and records that the account ran out
    Given the free plan allows 2 runs a month
    And a signed-in free user with a backtest
    When the free user submits 3 runs
    Then every submission was accepted
    And the first answer hints 1 of 2 runs used, not exceeded
    And the last answer hints 3 of 2 runs used, exceeded
    And the usage report shows 3 of 2 runs used and the quota exhausted

  Scenario: A hard quota refuses the submission that would pass it
    Given the free plan allows 2 runs a month
    And the runs quota is hard for the free plan
    And a signed-in free user with a backtest
    When the free user submits 3 runs
    Then the last answer is 429 "RATE_LIMITED" naming the quota "runs"
    And the usage report shows 2 of 2 runs used and the quota exhausted

  Scenario: Usage counts every one of 8 concurrent submissions
    Given a signed-in free user with a backtest
    When the free user submits 8 runs at once from 8 threads
    Then all 8 runs were accepted
    And the usage report shows 8 runs used

  Scenario: The disclaimer must be accepted before the first run
    Given the research-use disclaimer is required
    And a signed-in free user with a backtest
    When the free user submits 1 runs
    Then the last answer is 403 "FORBIDDEN" naming the route "POST /api/me/disclaimer"
    When the free user accepts the disclaimer
    And the free user submits 1 runs
    Then every submission was accepted
    And the run shows the disclaimer "研究用途，不构成投资建议" with its stats

  Scenario: A sweep counts every planned evaluation
    Given a signed-in free user with a backtest
    When the free user submits a grid sweep of 6 combinations
    Then the usage report shows 6 sweep evaluations used

  Scenario: The CLI shows the account's usage
    Given a signed-in free user with a backtest
    When the free user submits 2 runs
    And the free user runs "huice auth usage --json"
    Then the CLI reports 2 runs used
