Feature: Durable jobs
  A job's truth lives in PostgreSQL: it runs under a lease, transient failures are retried with backoff,
  user errors and budget overruns fail at once with the reason kept, and its owner can cancel it.

  Scenario: A job runs to success
    Given an owner submitted a "diag.progress" job with payload {"steps": 2, "delay": 0}
    When a worker runs the job
    Then the job is "succeeded" after 1 attempt
    And the job's result is {"steps": 2, "attempt": 1}
    And the job's events are "submitted, enqueued, started, progress, progress, succeeded"

  Scenario: A transient failure is retried
    Given an owner submitted a "diag.fail" job with payload {"fail_attempts": 1}
    When a worker runs the job
    Then the job is "queued" after 1 attempt
    When the retry is due and a worker runs the job
    Then the job is "succeeded" after 2 attempts

  Scenario: A user error is not retried
    Given an owner submitted a "diag.fail" job with payload {"mode": "user"}
    When a worker runs the job
    Then the job is "failed" after 1 attempt
    And the job's error is "INVALID_INPUT" "diagnostic user error"

  Scenario: A job over its budget fails with the reason
    Given an owner submitted a "diag.sleep" job with payload {"seconds": 5} and a budget of 1 s
    When a worker runs the job
    Then the job is "failed" after 1 attempt
    And the job's error is "INTERNAL_ERROR" "job exceeded its wall budget of 1 s"

  Scenario: Cancelling a queued job cancels it at once, and again is harmless
    Given an owner submitted a "diag.sleep" job with payload {"seconds": 1}
    When the owner cancels the job
    And the owner cancels the job
    Then the job is "cancelled" after 0 attempts
    And the job's events are "submitted, enqueued, cancelled"

  Scenario: Cancelling a running job stops it at its next progress point
    Given an owner submitted a "diag.sleep" job with payload {"seconds": 30}
    When a worker starts the job
    And the owner cancels the job
    Then the job is "cancelled" after 1 attempt

  Scenario: A finished job cannot be cancelled
    Given an owner submitted a "diag.progress" job with payload {"steps": 1, "delay": 0}
    When a worker runs the job
    And the owner tries to cancel the job
    Then the answer is "CONFLICT" "job already succeeded; it cannot be cancelled"

  Scenario: Another owner's job does not exist for you
    Given an owner submitted a "diag.sleep" job with payload {"seconds": 1}
    When another owner tries to cancel the job
    Then the answer is "NOT_FOUND" "job not found"

  Scenario: Another owner's stream is not found
    Given an owner submitted a "diag.sleep" job with payload {"seconds": 1}
    When another owner opens the job's event stream
    Then the answer is "NOT_FOUND" "job not found"
