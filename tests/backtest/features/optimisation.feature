Feature: Optimisation — parameter sweeps of a backtest on the service
  `POST /api/backtests/{id}/runs` with `mode` grid, random or bayes starts an optimisation: batches of
  combinations evaluated as ordinary jobs, results stored once per combination, early stop and budgets
  decided between batches, results sortable, filterable, as a heatmap and as CSV.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols

  Scenario: A grid sweep evaluates every combination the strategy accepts
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    Then the sweep ended "succeeded" with 6 of 6 evaluations
    And there is one result row per combination with its params and the summary metrics
    And the best so far is the result with the highest sharpe

  Scenario: The preview counts combinations and rejections before anything runs
    When the user previews a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20
    Then the preview shows 100 combinations, 10 rejected for "fast: must be smaller than slow" and 90 evaluations
    And no optimisation was created

  Scenario: max_evals caps the evaluations
    When the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20, max_evals 7 and batch size 3
    And the sweep's batches run
    Then the sweep ended "succeeded" with 7 of 7 evaluations
    And the sweep ran 3 batches

  Scenario: Early stop at a hand-constructed evaluation
    Given a stub strategy whose exposure grows with its parameter days
    When the user sweeps days "10,40,20,30,5,50,60" ranking by exposure with patience 3, one combination per batch
    And the sweep's batches run
    Then the sweep ended "early_stopped" with 5 of 7 evaluations
    And the reason says "stopped at evaluation #5"
    And the best so far has days 40

  Scenario: A strategy that raises for some combinations fails only those rows
    Given a stub strategy whose exposure grows with its parameter days
    When the user sweeps days "10,13,20" ranking by exposure
    And the sweep's batches run
    Then the sweep ended "succeeded" with 3 of 3 evaluations
    And the result with days 13 failed with the message "thirteen is unlucky"

  Scenario: A budget of wall time ends the sweep early
    When the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20, a budget of 1000 ms and batch size 10
    And the first batch runs after the budget is spent
    Then the sweep ended "early_stopped" with 10 of 90 evaluations
    And the reason says "budget"

  Scenario: Cancelling a sweep stops the remaining evaluations and keeps finished rows
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60" in batches of 2, one at a time
    And the first batch runs
    And the user cancels the sweep twice
    Then both cancels answer 204
    And the sweep ended "cancelled" with 2 of 6 evaluations
    And the queued batch's job is cancelled and running it does nothing

  Scenario: The events of a sweep follow its batches to the end
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60" in batches of 2, one at a time
    And the first batch runs
    And the user follows the sweep's events while the other batches run
    Then the events start with a snapshot of 2 of 6 evaluations
    And the evaluated counts in the events rise to 6 and the last event is "succeeded" with the best so far

  Scenario: A batch job that ends without finishing moves the sweep on without anyone reading it
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60" in batches of 2, one at a time
    And the first batch's job is cancelled on the job runtime
    Then in the database, before anyone reads the sweep, the first batch is cancelled and the second is queued
    And the sweep's batches run
    And the sweep ended "succeeded" with 4 of 6 evaluations

  Scenario: A result row is promoted to a full single run
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    And the user promotes the best result
    Then a single run with the best result's params is queued
    And the run succeeds with all its artifacts

  Scenario: The heatmap has one cell per evaluated pair and null where nothing ran
    When the user submits a grid sweep with fast "5,10,40" and slow "20,30"
    And the sweep's batches run
    Then the heatmap of sharpe over fast and slow has the x values "5,10,40" and the y values "20,30"
    And every heatmap cell is the sharpe of its result and the cells of fast 40 are null

  Scenario: Results sort by any metric, filter and download as CSV
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    Then the results come best sharpe first by default
    And sorted by max_drawdown ascending they are in ascending order
    And filtered by "trade_count:gt:0" every row has trades
    And the CSV of the results has a header starting "index,fast,slow,status" and 6 rows

  Scenario: A random sweep draws the same points from the same seed
    When the user submits a random sweep of 8 points with seed 7 twice
    And the sweep's batches run
    Then both sweeps evaluate the same 8 parameter sets, all inside the space

  Scenario: A Bayesian sweep asks optuna for each batch from the results so far
    When the user submits a bayes sweep of 12 points with seed 3 in batches of 4
    And the sweep's batches run
    Then the sweep ended "succeeded" with 12 of 12 evaluations
    And the sweep ran 3 batches
    And every evaluated point is inside the space

  Scenario: A sweep of at least 10 evaluations reports the deflated Sharpe ratio and PBO
    When the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20
    And the sweep's batches run
    Then the diagnostics report a deflated Sharpe ratio and a PBO between 0 and 1 over 90 evaluations

  Scenario: Walk-forward validation searches each training window and tests its best on the next
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60" validated walk-forward with train "6m", test "3m" and step "3m"
    And the sweep's batches run
    Then the validation has the folds
      | train_start | train_end  | test_start | test_end   |
      | 2023-03-01  | 2023-08-31 | 2023-09-01 | 2023-11-30 |
      | 2023-06-01  | 2023-11-30 | 2023-12-01 | 2024-02-29 |
      | 2023-09-01  | 2024-02-29 | 2024-03-01 | 2024-05-31 |
    And each fold's best params are the best of the same grid swept on its training window
    And each fold's out-of-sample sharpe is the sharpe of a single run of its best params on its test window
    And the stitched out-of-sample curve compounds the test windows' returns
    And "huice backtest optimization show" prints the 3 folds and the stitched out-of-sample metrics

  Scenario: A split date validates the in-sample best on the rest of the window
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60" validated with the split "2024-01-01"
    And the sweep's batches run
    Then the validation has the folds
      | train_start | train_end  | test_start | test_end   |
      | 2023-03-01  | 2023-12-31 | 2024-01-01 | 2024-06-28 |
    And each fold's best params are the best of the same grid swept on its training window
    And each fold's out-of-sample sharpe is the sharpe of a single run of its best params on its test window

  Scenario: Validation of a user strategy runs through the confined runner
    Given a stub strategy whose exposure grows with its parameter days
    When the user sweeps days "10,40" ranking by exposure validated with the split "2024-01-01"
    And the sweep's batches run
    Then the validation has the folds
      | train_start | train_end  | test_start | test_end   |
      | 2023-03-01  | 2023-12-31 | 2024-01-01 | 2024-06-28 |
    And the fold's best params have days 40
    And each fold's out-of-sample exposure is the exposure of a single run of its best params on its test window

  Scenario Outline: Bad sweep input is refused before anything is queued
    When the user submits a sweep with <problem>
    Then the answer is 422 INVALID_INPUT naming "<field>"
    And no optimisation was created

    Examples:
      | problem                           | field             |
      | an unknown parameter name         | gridSpec.foo      |
      | a value outside the bounds        | gridSpec.fast     |
      | every combination rejected        | gridSpec          |
      | too many combinations             | gridSpec          |
      | an early stop on no metric        | early_stop.metric |
      | max_evals 0                       | max_evals         |
      | a random sweep without n          | n                 |
      | a walk-forward longer than the window | validation.walk_forward.train |
      | a walk-forward test of no unit    | validation.walk_forward.test |
      | walk-forward tests that overlap   | validation.walk_forward.step |
      | a split outside the window        | validation.split  |
      | a bayes sweep with validation     | validation        |

  Scenario: Another user's optimisation is not found on every route
    Given another signed-in user
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    Then every optimisation route answers 404 NOT_FOUND to the other user
    And a sweep of the user's backtest by the other user is 404 NOT_FOUND

  Scenario: Repeating a sweep submission with the same Idempotency-Key creates one optimisation
    When the user submits the same grid sweep twice with the Idempotency-Key "opt-1"
    Then both answers carry the same optimization_id
    And the user has 1 optimisation
