Feature: Exports a Chinese user opens in Excel
  A run's tables download as csv (UTF-8 with a byte-order mark), json, parquet or xlsx — one typed sheet:
  dates as dates, integers as integers, numbers as numbers — with Chinese column names on request. Share
  counts are integers in every export; on a daily run filled at the next open, orders and fills carry the
  session's date only, never a made-up time of day. The stored Parquet (hashed in the manifest) is unchanged.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols
    And a succeeded run with fast 5 and slow 20

  Scenario: Trades as an Excel sheet with typed cells and Chinese headers
    When the user downloads the run's "trades" as "xlsx" with "zh" headers
    Then the answer is an xlsx workbook whose header row starts with 代码, 买入日期, 卖出日期, 数量, 买入价格
    And in its rows the dates are dates, the quantities integers and the prices and P&L numbers

  Scenario: Share counts are integers and next-open fills have no time of day
    When the user downloads the run's "fills" as "csv"
    Then the CSV starts with a byte-order mark and its header is date, symbol, side, qty, price, value, commission, stamp_duty, transfer_fee, fees, cash_flow
    And every "qty" in it is a whole number written without a decimal point
    When the user downloads the run's "orders" as "json"
    Then no row has a "ts" and every "filled_qty" is an integer
    When the user downloads the run's "orders" as "parquet"
    Then the stored table still has the engine's "ts" column

  Scenario: The run's metrics as a table
    When the user downloads the run's "metrics" as "xlsx" with "zh" headers
    Then the answer is an xlsx workbook whose header row starts with 指标, 数值
    And its first rows are 总收益率, 年化收益率 and 年化波动率 with the run's figures

  Scenario: An unknown header language is refused
    When the user downloads the run's "trades" as "csv" with "fr" headers
    Then the answer is 422 INVALID_INPUT naming "query.headers"

  Scenario: The CLI writes an xlsx with Chinese headers
    Given a signed-in user of the CLI
    When the user runs "backtest artifacts {run} positions --format xlsx --headers zh --out {dir}/positions.xlsx"
    Then the file "positions.xlsx" is an xlsx workbook whose header row starts with 日期, 代码, 持股数量, 收盘价, 市值
