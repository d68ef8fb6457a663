Feature: Backtests, runs and artifacts are private to their owner
  Another owner's backtest, run or artifact is "not found" on every endpoint, exactly like a missing one.

  Scenario: Another user can neither see nor touch a user's backtest, run or artifacts
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols
    And a succeeded run with fast 5 and slow 20
    And another signed-in user
    Then every endpoint answers 404 NOT_FOUND to the other user:
      | method | path                                         |
      | GET    | /api/backtests/{backtest}                    |
      | GET    | /api/backtests/{backtest}/runs               |
      | POST   | /api/backtests/{backtest}/runs               |
      | GET    | /api/backtests/{backtest}/runs/{run}         |
      | POST   | /api/backtests/{backtest}/runs/{run}:cancel  |
      | POST   | /api/backtests/{backtest}/runs/{run}:rerun   |
      | GET    | /api/runs/{run}                              |
      | GET    | /api/runs/{run}/artifacts/trades?format=csv  |
      | GET    | /api/runs/{run}/artifacts/equity?format=parquet |
      | GET    | /api/runs/{run}/events                       |
      | POST   | /api/backtests with the user's version       |
    And the other user's lists of backtests and runs are empty
    And the user still sees the backtest and the succeeded run
