Feature: Alerts
  Rules with thresholds from the settings are evaluated periodically; each firing and resolved transition
  is stored, shown in the summary, listed by `huice monitor alerts` and mailed to the admins.

  Background:
    Given an admin who signed in and 2 other users, 1 of them verified

  Scenario: No live worker fires, and resolves when a worker is back
    Given no worker is alive
    When the alerts are evaluated
    Then the alert "no_live_worker" is firing
    And the summary lists "no_live_worker" among the firing alerts
    And the admin mailbox has a message about "firing: no_live_worker"
    Given a live worker
    When the alerts are evaluated
    Then the alert "no_live_worker" is ok
    And the transitions of "no_live_worker" are "firing, resolved"
    And the admin mailbox has a message about "resolved: no_live_worker"

  Scenario: The failure rate fires above a hand-set threshold
    Given the failure-rate threshold is 0.4 once 2 jobs have finished
    And a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | failed    | 1      | 1     |
      | succeeded | 1      | 1     |
    When the alerts are evaluated
    Then the alert "failure_rate" is firing with the value 0.5
    Given the failure-rate threshold is 0.6 once 2 jobs have finished
    When the alerts are evaluated
    Then the alert "failure_rate" is ok
    And the transitions of "failure_rate" are "firing, resolved"

  Scenario: The queue wait p95 fires above a hand-set threshold
    Given the queue-wait p95 threshold is 30 s
    And a backtest with these runs submitted 1 hour ago:
      | status    | wait_s | run_s |
      | succeeded | 10     | 1     |
      | succeeded | 45     | 1     |
    When the alerts are evaluated
    Then the alert "queue_wait_p95" is firing with the value 45
    And "huice monitor alerts" lists "queue_wait_p95" as firing

  Scenario: A rule evaluated twice in the same state records one transition
    Given no worker is alive
    When the alerts are evaluated
    And the alerts are evaluated
    Then the transitions of "no_live_worker" are "firing"

  Scenario: A nearly full data disk fires
    Given the disk threshold is 0.001 %
    When the alerts are evaluated
    Then the alert "disk_nearly_full" is firing
