Feature: The whole backtest loop from the terminal
  `huice backtest` does everything the API does, with --json everywhere, on runs that real workers execute.

  Background:
    Given running workers over the sample data
    And a signed-in user of the CLI

  Scenario: Create, run with a live progress bar, read, list, export and rerun
    When the user runs "backtest create --template ma_cross --param fast=5 --param slow=20 --symbols 600010.SH,000010.SZ,300010.SZ --start 2023-03-01 --end 2024-06-28 --benchmark 000300.SH --json"
    Then the command succeeds and prints the new backtest
    When the user runs "backtest run {backtest} --wait"
    Then the command succeeds showing a progress bar and a metrics table with total_return and sharpe
    When the user runs "backtest status {run} --json"
    Then the command succeeds and prints the run with status "succeeded"
    When the user runs "backtest list --runs --json"
    Then the command succeeds and lists the run
    When the user runs "backtest artifacts {run} trades --format csv --out {dir}/trades.csv"
    Then the file "trades.csv" starts with the header "symbol,entry_date,exit_date,quantity,entry_price,exit_price,pnl,return,holding_sessions,dividends"
    When the user runs "backtest artifacts {run} orders --format json"
    Then the command succeeds and prints the orders as JSON
    When the user runs "backtest rerun {run} --wait --json"
    Then the command succeeds and prints a run with the same stats
    When the user runs "backtest cancel {run} --json"
    Then the command exits 5 with the error code "CONFLICT"

  Scenario: A one-off strategy from a source file on an index's members, point in time
    Given the file "mine.py" holds the source of the template "ma_cross"
    When the user runs "backtest create --code-file {dir}/mine.py --name mine --param fast=5 --param slow=20 --index 000300.SH --universe-filter exclude_st=true --start 2023-03-01 --end 2024-06-28 --json"
    Then the command succeeds and prints a backtest of the new strategy "mine" on the members of "000300.SH"
    When the user runs "backtest run {backtest} --wait --json"
    Then the command succeeds and prints a succeeded run
    When the user runs "backtest list"
    Then the command succeeds and its table shows the universe as "000300.SH (" and the strategy as "mine v1"
    When the user runs "backtest optimize {backtest} --grid fast=5,10 --grid slow=20,30 --wait --json"
    Then the command succeeds and prints a succeeded sweep of 4 combinations
    When the user runs "backtest optimization promote {optimization} {best} --wait --json"
    Then the command succeeds and prints a run with the metrics of the sweep's best combination

  Scenario: A strategy reading fundamentals stored for part of its universe warns when created and after its run
    # the index 000300.SH has daily bars but no daily_basic: pb is known on 600010.SH's sessions only
    Given the file "value.py" holds a strategy reading the fundamental "pb"
    When the user runs "backtest create --code-file {dir}/value.py --name value --symbols 600010.SH,000300.SH --start 2024-01-02 --end 2024-03-29"
    Then the command succeeds and warns on stderr that pb is known on 50.0% of the stock-sessions
    When the user runs "backtest create --code-file {dir}/value.py --name value2 --symbols 600010.SH,000300.SH --start 2024-01-02 --end 2024-03-29 --json"
    Then the command succeeds and prints a backtest whose warnings say pb is known on 50.0% of the stock-sessions
    When the user runs "backtest run {backtest} --wait"
    Then the command succeeds and warns on stderr that pb is known on 50.0% of the stock-sessions
