Feature: Tushare syncs run as jobs
  An administrator submits a sync (`POST /api/market/sync`); it is queued as a `market_data.sync` job on the
  job runtime and answered at once. A worker runs it, reporting partitions, calls, rows, quota waits and the
  ETA as the job's progress; cancel and retry are the runtime's, and a retry fetches only what is missing.

  Background:
    Given the offline sample slice is committed
    And Tushare answers from the stand-in server

  Scenario: A sync is a job an administrator submits and a worker runs
    When an administrator submits a sync of "600010.SH,688010.SH" from "2025-01-01" to "2025-03-31"
    Then the answer is 202 with a queued sync job
    When a worker runs the job
    Then the sync job succeeded with a new "tushare" snapshot
    And its progress reports counted 2 of 2 partitions with the calls and rows made

  Scenario: A sync fetches, stores and serves the same shapes, and a re-run fetches nothing
    When an administrator syncs "600010.SH,688010.SH" from "2025-01-01" to "2025-03-31"
    Then the sync job succeeded with a new "tushare" snapshot
    And the synced bars equal the sample bars
    When an administrator syncs "600010.SH,688010.SH" from "2025-01-01" to "2025-03-31"
    Then no new snapshot was recorded and nothing was fetched

  Scenario: A whole-market sync makes four calls per session
    When an administrator syncs every listed stock from "2025-03-03" to "2025-03-07"
    Then the sync job succeeded with a new "tushare" snapshot
    And the stand-in answered 20 bar calls, each by trade date
    And the sync plan is "by_date"

  Scenario: Tushare over quota is an upstream error with retry advice
    Given Tushare is over its daily quota
    When an administrator syncs "600010.SH" from "2025-01-01" to "2025-03-31"
    Then the sync job waits for a retry with the error "UPSTREAM_ERROR" and retry advice
    And no new snapshot was recorded

  Scenario: A retried sync job fetches only the partitions its first attempt did not stage
    Given Tushare answers 8 bar calls before its daily quota runs out
    When an administrator syncs every listed stock from "2025-03-03" to "2025-03-07"
    Then the sync job waits for a retry with the error "UPSTREAM_ERROR" and retry advice
    When the quota is back and the retry runs
    Then the sync job succeeded with a new "tushare" snapshot
    And the stand-in answered 12 bar calls, each by trade date

  Scenario: A sync is refused before it is queued when no token is configured
    Given no Tushare token is configured
    When an administrator submits a sync of "600010.SH" from "2025-01-01" to "2025-03-31"
    Then the answer is 422 INVALID_INPUT naming "tushare_token"
    And no sync job was queued
