Feature: Backtest runs through the API
  A quant user picks a strategy version, a universe and a window, runs it on a worker, follows its
  progress, reads the metrics and exports the results. A rerun gives exactly the same numbers.

  Background:
    Given running workers over the sample data
    And a signed-in user

  Scenario: Run a template backtest end to end and export the results
    Given a backtest of the template "ma_cross" on three sample symbols
    When the user submits a single run with fast 5 and slow 20
    And the run ends
    Then the run succeeded with progress 100 after 1 attempt
    And the run records its queue wait and its timestamps
    And the run shows its params, its stats and a manifest pinned to the strategy version and data snapshot
    And the run lists the artifacts equity, trades, orders, positions, fills and logs
    And the trades download as CSV with the header "symbol,entry_date,exit_date,quantity,entry_price,exit_price,pnl,return,holding_sessions,dividends"
    And the orders download as JSON with a reason for every order not filled
    And the equity downloads as Parquet with one row per session
    And the run's event stream ends with the event "succeeded"
    And the backtest lists the run

  Scenario: A rerun reproduces identical metrics and artifacts
    Given a backtest of the template "ma_cross" on three sample symbols
    And a succeeded run with fast 5 and slow 20
    When the user reruns it
    And the rerun ends
    Then the rerun succeeded with the same params, stats and manifest
    And every artifact of the rerun has the same bytes as the run's

  Scenario: An error in the strategy's code fails the run with the user's error, without retries
    Given a backtest of the template "ma_cross" on three sample symbols
    When the user submits a single run with fast 30 and slow 20
    And the run ends
    Then the run failed after 1 attempt with INVALID_INPUT "the strategy raised an error: fast: must be smaller than slow"
    And the run has no stats and no artifacts

  Scenario: Cancelling a run is idempotent
    Given a backtest of the template "ma_cross" on three sample symbols
    When the user submits a single run with fast 5 and slow 20
    And the user cancels the run twice
    Then both cancels answer 204
    And the run ends cancelled

  Scenario: Cancelling a finished run is a conflict
    Given a backtest of the template "ma_cross" on three sample symbols
    And a succeeded run with fast 5 and slow 20
    When the user cancels the run
    Then the answer is 409 CONFLICT
