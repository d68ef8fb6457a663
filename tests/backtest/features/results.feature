Feature: Studying results
  A user studies a finished run page by page, on a chart and against other runs: paged trades, orders,
  fills and positions; downsampled curves with the benchmark; drawdown periods, return tables and trade
  statistics; runs compared on one calendar; and why two runs differ.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols

  Scenario: Drawdown periods, monthly returns and streaks of a hand-computed curve
    Given a run of the user whose sessions end at these equities:
      | date       | equity    | benchmark |
      | 2024-01-29 | 1050000   | 1000000   |
      | 2024-01-30 | 1020000   | 1010000   |
      | 2024-01-31 | 1080000   | 1000000   |
      | 2024-02-01 | 990000    | 1020000   |
      | 2024-02-02 | 1100000   | 1030000   |
      | 2024-02-05 | 1045000   | 1040000   |
    And whose round trips closed in this order with the P&L 500, 300, 250, -200, -100, 400
    When the user asks for the run's study
    Then the drawdown periods, deepest first, are:
      | peak       | trough     | recovery   | depth     | sessions |
      | 2024-01-31 | 2024-02-01 | 2024-02-02 | -0.083333 | 2        |
      | 2024-02-02 | 2024-02-05 |            | -0.05     | 1        |
      | 2024-01-29 | 2024-01-30 | 2024-01-31 | -0.028571 | 2        |
    And the monthly returns are:
      | period  | strategy  | benchmark | excess    |
      | 2024-01 | 0.08      | 0.0       | 0.08      |
      | 2024-02 | -0.032407 | 0.04      | -0.072407 |
    And the yearly returns are:
      | period | strategy | benchmark | excess |
      | 2024   | 0.045    | 0.04      | 0.005  |
    And the statistics are:
      | statistic              | value     |
      | max_consecutive_wins   | 3         |
      | max_consecutive_losses | 2         |
      | best_trade             | 500       |
      | worst_trade            | -200      |
      | average_trade          | 191.666667 |
      | expectancy             | 1.277778  |
      | daily_win_rate         | 0.5       |
      | absolute_pnl           | 45000     |
    And the same periods and tables answer "/api/runs/{run}/drawdowns?top=2" and "/api/runs/{run}/returns"

  Scenario: Paged trades, orders, fills and positions of a real run
    Given a succeeded run with fast 5 and slow 20
    Then "/api/runs/{run}/trades?sort=-pnl&limit=5" is the 5 best round trips of the trades download, of all of them
    And "/api/runs/{run}/trades?symbol=600010.SH&sort=pnl,entry_date" holds exactly that symbol's round trips, worst first
    And "/api/runs/{run}/orders?status=partial&reason=INSUFFICIENT_CASH" holds exactly the orders download's partial fills for cash
    And "/api/runs/{run}/fills?sort=-fees&limit=3&offset=1" is the 2nd to 4th most expensive fills of the download
    And "/api/runs/{run}/trades?from=2023-06-01&to=2023-12-31" holds exactly the round trips that closed in that range
    And every position of "/api/runs/{run}/positions?limit=200" has its average cost, unrealised P&L and weight
    And the stats add absolute P&L, streaks and return tables without changing the summary metrics

  Scenario: Curves are downsampled keeping the extremes, beside the benchmark rebased to the initial cash
    Given a succeeded run with fast 5 and slow 20
    When the user asks for "/api/runs/{run}/curves?points=50"
    Then about 50 points come back by MinMaxLTTB, from the first to the last session of the equity download
    And they keep the deepest drawdown and the highest equity of the equity download
    And the benchmark ends at the initial cash grown by the run's benchmark return
    When the user asks for "/api/runs/{run}/curves?from=2023-06-01&to=2023-06-30"
    Then every session of June 2023 comes back, not downsampled

  Scenario: Comparing two runs with different windows on one calendar
    Given a run "A" of the user with an initial cash of 1000000 whose sessions end at:
      | date       | equity  |
      | 2024-01-29 | 1050000 |
      | 2024-01-30 | 1020000 |
      | 2024-01-31 | 1080000 |
      | 2024-02-01 | 990000  |
      | 2024-02-02 | 1100000 |
    And a run "B" of the user with an initial cash of 2000000 whose sessions end at:
      | date       | equity  |
      | 2024-01-31 | 2200000 |
      | 2024-02-01 | 2100000 |
      | 2024-02-02 | 2310000 |
      | 2024-02-05 | 2200000 |
    When the user compares the runs "A" and "B"
    Then the calendar is the 6 sessions from 2024-01-29 to 2024-02-05
    And the curve of "A" is 1.05, 1.02, 1.08, 0.99, 1.1, none
    And the curve of "B" is none, none, 1.1, 1.05, 1.155, 1.1
    And the intersection window is 2024-01-31 to 2024-02-02
    And the correlation of "A" and "B" is that of their daily returns from 2024-01-31 to 2024-02-02
    And the metrics of both runs stand side by side
    And the comparison downloads as CSV with a header of the date and both run ids and 6 rows

  Scenario: Run lists sort by a summary metric and filter by status
    Given runs of the user with the Sharpe ratios 1.5, 0.3 and 2.0
    Then "/api/runs?sort=-stats.sharpe" lists them by Sharpe 2.0, 1.5, 0.3
    And "/api/runs?sort=stats.sharpe&limit=1" lists the Sharpe ratio 0.3 of 3 runs
    And "/api/runs?status=cancelled" lists 3 runs and "/api/runs?status=succeeded" none
    And "/api/runs?template=ma_cross" lists 3 runs and "/api/runs?template=macd" none
    And "/api/runs?strategy_id={strategy}&sort=-stats.sharpe" lists them by Sharpe 2.0, 1.5, 0.3

  Scenario: The diff of a run and its rerun is identical, a run with other parameters is not
    Given a succeeded run with fast 5 and slow 20
    And its rerun has succeeded
    And a succeeded run with fast 10 and slow 40 named "other"
    Then the diff of the run and its rerun is "identical" without differences
    And the diff of the run and "other" names the parameters fast 5 to 10 and slow 20 to 40
    And that diff has a first differing session and the deltas of total_return and sharpe

  Scenario: The diff of runs of two versions shows the unified diff of their sources
    Given a succeeded run with fast 5 and slow 20
    And a succeeded run of an edited copy of the strategy with fast 5 and slow 20
    Then the diff of the two runs names the strategy version and shows the edit as a unified diff

  Scenario: The strategy's own print and log lines are in the run's logs
    Given a succeeded run of a copy of the strategy that prints and logs, with fast 5 and slow 20
    Then the run's logs hold the strategy's lines after the strategy stage, the token masked

  Scenario: Bad study requests are refused in the error envelope
    Given a succeeded run with fast 5 and slow 20
    Then these requests answer 422 INVALID_INPUT naming the field:
      | request                                                  | field   |
      | GET /api/runs/{run}/trades?sort=nope                     | sort    |
      | GET /api/runs/{run}/orders?reason=NOPE                   | reason  |
      | GET /api/runs/{run}/curves?points=5                      | points  |
      | GET /api/runs/{run}/curves?points=20000                  | points  |
      | GET /api/runs/{run}/curves?from=2024-06-01&to=2024-01-01 | from    |
      | GET /api/runs/{run}/curves?from=2030-01-01               | from    |
      | GET /api/runs/{run}/rolling?window=1                     | window  |
      | GET /api/runs?sort=-stats.nope                           | sort    |
      | GET /api/runs?template=nope                              | template |
      | POST /api/compare with 11 runs                           | run_ids |
      | POST /api/compare with 1 run                             | run_ids |
    And the unknown sort column's answer lists the valid columns

  Scenario: Another user's run is not found on every study route
    Given a succeeded run with fast 5 and slow 20
    And another signed-in user
    Then every study route answers 404 NOT_FOUND to the other user:
      | method | path                                 |
      | GET    | /api/runs/{run}/trades               |
      | GET    | /api/runs/{run}/orders               |
      | GET    | /api/runs/{run}/fills                |
      | GET    | /api/runs/{run}/positions            |
      | GET    | /api/runs/{run}/curves               |
      | GET    | /api/runs/{run}/drawdowns            |
      | GET    | /api/runs/{run}/returns              |
      | GET    | /api/runs/{run}/rolling?window=20    |
      | GET    | /api/runs/{run}/study                |
      | GET    | /api/runs/{run}/diff/{run}           |
      | POST   | /api/compare                         |
    And the other user's run lists sorted by Sharpe are empty

  Scenario: The CLI pages, compares and diffs runs in both modes
    Given a signed-in user of the CLI
    And a succeeded run of the CLI user and its rerun
    When the user runs "backtest trades {run} --sort -pnl --limit 3 --json"
    Then the command prints a page of 3 round trips sorted by P&L, best first
    When the user runs "backtest trades {run} --sort -pnl --limit 3"
    Then the command prints a table titled "3 of" with the columns symbol and pnl
    When the user runs "backtest drawdowns {run} --top 2"
    Then the command prints a table with the columns peak, trough and recovery
    When the user runs "backtest compare {run} {rerun}"
    Then the command prints a table with the metric total_return
    When the user runs "backtest diff {run} {rerun} --json"
    Then the command prints the diff status "identical"
    When the user runs "backtest diff {run} {rerun}"
    Then the command prints "identical"
    When the user runs "backtest orders {run} --status partial --reason INSUFFICIENT_CASH"
    Then the command prints "INSUFFICIENT_CASH"
    When the user runs "backtest positions {run} --sort -date --limit 5"
    Then the command prints "unrealised_pnl"
    When the user runs "backtest fills {run} --sort -fees --limit 5"
    Then the command prints "stamp_duty"
    When the user runs "backtest curves {run} --points 100"
    Then the command prints "MinMaxLTTB"
    When the user runs "backtest returns {run} --yearly"
    Then the command prints "2024"
    When the user runs "backtest rolling {run} --window 20"
    Then the command prints "volatility"
    When the user runs "backtest study {run}"
    Then the command prints "max_consecutive_wins"
    When the user runs "backtest list --runs --sort -stats.sharpe"
    Then the command prints "sharpe"
    When the user runs "backtest trades {run} --sort nope"
    Then the command exits 2 with the error code "INVALID_INPUT" naming "sort"
