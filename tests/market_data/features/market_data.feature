Feature: Market data
  Without a Tushare token the product serves a synthetic, deterministic sample universe (source "sample");
  with a token a sync fetches only what is missing from Tushare Pro, and every read can pin a snapshot.

  Background:
    Given the offline sample is loaded

  Scenario: Sample bars for every board follow the bar contract
    When a signed-in user asks for daily bars of "600010.SH,000010.SZ,300010.SZ,688010.SH,830010.BJ" from "2025-01-01" to "2025-12-31"
    Then the status is 200
    And the bars come from a "sample" snapshot
    And every requested symbol has bars

  Scenario: Unknown and malformed codes are named
    When a signed-in user asks for daily bars of "999999.SH,600000.XX" from "2025-01-01" to "2025-01-31"
    Then the status is 422
    And the error code is "INVALID_INPUT"
    And the error names "999999.SH" and "600000.XX"

  Scenario: A date beyond the known calendar is refused, not guessed
    When a signed-in user asks for daily bars of "600010.SH" from "2026-12-01" to "2027-01-31"
    Then the status is 422
    And the error code is "INVALID_INPUT"

  Scenario: Market data needs a signed-in caller
    When an anonymous caller asks for daily bars of "600010.SH" from "2025-01-01" to "2025-01-31"
    Then the status is 401

  Scenario: Only administrators may sync
    When a signed-in user asks to sync "600010.SH" from "2025-01-01" to "2025-01-31"
    Then the status is 403

  Scenario: The integrity check passes on the sample
    When an administrator runs the integrity check
    Then the status is 200
    And the report is clean

  Scenario: A partial sync does not change the default snapshot
    Given Tushare answers from the stand-in server
    When "600010.SH,688010.SH" are synced from Tushare from "2025-01-01" to "2025-03-31"
    Then a "tushare" snapshot was recorded that is not the default
    And the snapshot list marks the sample snapshot as the default
    And unpinned bars of "000010.SZ" come from the sample snapshot

  Scenario: A load that covers the default becomes the default
    When the sample slice is loaded again with one more symbol
    Then the new sample snapshot is the default, published by the rule

  Scenario: An administrator names the default snapshot
    Given Tushare answers from the stand-in server
    And "600010.SH" is synced from Tushare from "2025-01-01" to "2025-03-31"
    When a signed-in user asks to make the synced snapshot the default
    Then the status is 403
    When an administrator makes the synced snapshot the default
    Then the status is 200
    And the default snapshot is the synced one, named explicitly with the rule
    And unpinned bars of "600010.SH" come from a "tushare" snapshot

  Scenario: A benchmark missing from the default snapshot is a warning on the backtest
    Given Tushare answers from the stand-in server
    And "600010.SH" is synced from Tushare from "2025-01-01" to "2025-03-31"
    And an administrator has made the synced snapshot the default
    When a backtest of "600010.SH" against "000300.SH" is checked from "2025-01-02" to "2025-03-31"
    Then it is accepted with the warning that "000300.SH" has no daily bars in the synced snapshot

  Scenario: Index members are point in time
    When a signed-in user asks for the members of "000300.SH" on "2020-12-31"
    Then the members come from the weights of "2020-12-01" and leave out "688010.SH" and "600110.SH"
    When a signed-in user asks for the members of "000300.SH" on "2021-01-05"
    Then the members come from the weights of "2021-01-04" and include "688010.SH"

  Scenario: The listed universe of a session includes a stock while it traded
    When a signed-in user asks for the universe on "2021-06-30"
    Then it includes "600110.SH" and not "830010.BJ" listed later
    When a signed-in user asks for the universe on "2021-07-01"
    Then it leaves out "600110.SH"

  Scenario: Fundamentals come with every traded session
    When a signed-in user asks for the fundamentals of "600010.SH" from "2025-01-02" to "2025-01-10"
    Then there is one row per traded session with PE, PB, PS, dividend yield, market values and turnover
    And the float value is 80 percent of the total value on every row

  Scenario: Fundamentals and index weights sync by date from Tushare
    Given Tushare answers from the stand-in server
    When the datasets "daily_basic,index_weight" are synced from Tushare from "2025-03-03" to "2025-03-07"
    Then the stand-in answered 5 "daily_basic" calls by trade date and 5 "index_weight" calls
    And the fundamentals of "000050.SZ" on "2025-03-05" are the stand-in's
    When the datasets "daily_basic,index_weight" are synced from Tushare from "2025-03-03" to "2025-03-07"
    Then the stand-in answered 0 "daily_basic" calls by trade date and 5 "index_weight" calls
