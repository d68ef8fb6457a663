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

  Scenario: A sync fetches, stores and serves the same shapes, and a re-run fetches nothing
    Given Tushare answers from the stand-in server
    When an administrator syncs "600010.SH,688010.SH" from "2025-01-01" to "2025-03-31"
    Then the status is 200
    And a new "tushare" snapshot was recorded
    And the synced bars equal the sample bars
    When an administrator syncs "600010.SH,688010.SH" from "2025-01-01" to "2025-03-31"
    Then no new snapshot was recorded and nothing was fetched

  Scenario: A whole-market sync makes four calls per session
    Given Tushare answers from the stand-in server
    When an administrator syncs every listed stock from "2025-03-03" to "2025-03-07"
    Then the status is 200
    And the stand-in answered 20 bar calls, each by trade date
    And the sync plan is "by_date"

  Scenario: Tushare over quota is an upstream error with retry advice
    Given Tushare answers from the stand-in server
    And Tushare is over its daily quota
    When an administrator syncs "600010.SH" from "2025-01-01" to "2025-03-31"
    Then the status is 502
    And the error code is "UPSTREAM_ERROR"
    And the error carries retry advice

  Scenario: The integrity check passes on the sample
    When an administrator runs the integrity check
    Then the status is 200
    And the report is clean
