Feature: Idempotency-Key on every POST
  The same key with the same body within 24 hours answers the first response again; the same key with
  another body is a conflict; concurrent duplicates create one run.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols

  Scenario: Repeating a submission with the same key answers the first response
    When the user submits a run twice with the Idempotency-Key "k-1" and the same body
    Then both answers are 201 with the same run id
    And the backtest has 1 run

  Scenario: Reusing a key for another body is a conflict
    When the user submits a run with the Idempotency-Key "k-2" and fast 5
    And the user submits a run with the Idempotency-Key "k-2" and fast 6
    Then the answer is 409 CONFLICT naming "Idempotency-Key"
    And the backtest has 1 run

  Scenario: Concurrent duplicate submissions create one run
    When 4 identical submissions with the Idempotency-Key "k-3" race each other
    Then they all answer the same run id
    And the backtest has 1 run

  Scenario: Creating a backtest twice with the same key creates one backtest
    When the user creates the same backtest twice with the Idempotency-Key "k-4"
    Then both answers carry the same backtest id
    And the user has 2 backtests
