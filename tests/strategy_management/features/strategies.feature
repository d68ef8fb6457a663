Feature: Strategies, immutable versions and templates
  A quant trader keeps strategies as immutable versions, starts from the engine's templates,
  validates before running, and exports/imports strategies as files.

  Scenario: A new user goes from a template to an exported strategy
    Given a signed-in user
    When they create a strategy from the template "ma_cross"
    And they save a new version with the default of "fast" changed to 12
    Then the strategy has 2 versions and version 1 still has "fast" default 10
    And validating the latest version dry-runs on sample bars with params {"fast": 12, "slow": 30}
    And the export file holds the latest source and its content hash

  Scenario: Validation flags a strategy that reads the next bar and passes a template
    Given a signed-in user
    When they create a strategy that reads the next bar
    Then validating it reports LOOKAHEAD on the last session of the sample's first quarter for "000001.SZ"
    When they create a strategy from the template "ma_cross"
    Then validating it reports the look-ahead audit passed on 3 prefixes

  Scenario: Saving the same source again does not create a version
    Given a signed-in user with a strategy "trend"
    When they save the same source again
    Then the strategy has 1 versions

  Scenario: Another owner's strategy is not found
    Given a signed-in user with a strategy "trend"
    When another user asks for that strategy
    Then the answer is 404 NOT_FOUND "strategy not found"

  Scenario: Duplicate names conflict
    Given a signed-in user with a strategy "trend"
    When they create another strategy named "trend"
    Then the answer is 409 CONFLICT "a strategy named 'trend' already exists"

  Scenario: A referenced strategy cannot be deleted
    Given a signed-in user with a strategy "trend"
    And a backtest run references its latest version
    When they delete the strategy
    Then the answer is 409 CONFLICT "the strategy is referenced by 1 run(s); archive it instead"

  Scenario: Oversized source is refused
    Given a signed-in user
    When they create a strategy whose source is 70000 bytes
    Then the answer is 413 PAYLOAD_TOO_LARGE "strategy source is 70000 bytes, above the 65536-byte limit"

  Scenario: Unknown template
    Given a signed-in user
    When they create a strategy from the template "nope"
    Then the answer is 404 NOT_FOUND "unknown template 'nope'"
    When they create a strategy from the template "ma_corss"
    Then the answer is 404 NOT_FOUND "unknown template 'ma_corss'; did you mean 'ma_cross'?"

  Scenario: Syntax errors name line and column
    Given a signed-in user
    When they create a strategy with source "def generate(bars, params)\n    return bars\n"
    Then the answer is 422 INVALID_INPUT "syntax error at line 1, column 27: expected ':'"
    And the error details hold line 1 and column 27

  Scenario: Pasted malicious code is refused statically with each violation's line
    Given a signed-in user
    When they create a strategy with source "import os\ndef generate(bars, params):\n    return eval('1')\n"
    Then the answer is 422 INVALID_INPUT "source refused at line 1: import of 'os' is not allowed (and 1 more)"
    And the violations are "1:import of 'os' is not allowed" and "3:'eval' is not allowed"

  Scenario: A frame walk through getattr with constant names is refused statically
    Given a signed-in user
    When they create a strategy with source "def generate(bars, params):\n    frame = getattr(bars, 'gi_frame')\n    return getattr(frame, 'f_back')\n"
    Then the answer is 422 INVALID_INPUT "source refused at line 2: getattr() of the frame/generator attribute 'gi_frame' is not allowed (and 1 more)"
    And the violations are "2:getattr() of the frame/generator attribute 'gi_frame' is not allowed" and "3:getattr() of the frame/generator attribute 'f_back' is not allowed"

  Scenario: Strategy runs beyond a user's limit are refused with 429
    Given a signed-in user with 2 strategy runs in progress
    When they create a strategy with new code
    Then the answer is 429 RATE_LIMITED "you already have 2 strategy run(s) in progress; try again when one finishes"
    And the answer says to retry after 2 seconds and names the limit "user_runs"
    And another user can create a strategy with new code meanwhile
