Feature: Strategies declare parameters and return targets
  A strategy module imports only polars, numpy, math, statistics, datetime and the SDK, declares PARAMS
  and generate(bars, params). Bad source and bad parameters are refused before anything runs.

  Scenario: A forbidden import is rejected
    Given strategy source that imports "os"
    When it is loaded
    Then a strategy error names the import "os"

  Scenario: A parameter out of bounds names its field
    Given the template "ma_cross"
    When the parameters {"slow": 1000} are validated
    Then a parameter error names the field "slow"

  Scenario: A strategy's own constraint rejects a combination before it runs
    Given the template "ma_cross"
    When a run is asked for with the parameters {"fast": 30, "slow": 30}
    Then a parameter error names the field "fast"
    And the strategy's generate was not called

  Scenario: A source written for the SDK's old module name still loads
    Given strategy source that imports the SDK as "backtest.engine.sdk"
    When it is loaded in a process without the backtest package
    Then it loads and declares the parameter "weight"
