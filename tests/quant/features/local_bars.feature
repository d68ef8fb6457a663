Feature: Bars files on the local engine
  `huice backtest local --data FILE` reads bars as CSV or Parquet into the engine's bar contract; a row that
  cannot be a bar (no date, no symbol) is refused with the count of such rows, not simulated.

  Scenario: Bars without a date or a symbol are refused with their count
    Given a bars file "no_date.csv" where 1 row has no "date"
    And a bars file "no_symbol.csv" where 2 rows have no "symbol"
    When the quant runs "backtest local ma_cross --data {dir}/no_date.csv"
    Then the command exits 2 with INVALID_INPUT "1 row without a date"
    When the quant runs "backtest local ma_cross --data {dir}/no_symbol.csv"
    Then the command exits 2 with INVALID_INPUT "2 rows without a symbol"
