Feature: Scheduled maintenance
  Persisted schedules submit ordinary jobs (listed in /api/jobs): alert evaluation, retention, and the
  daily Tushare refresh when a token is configured. A restart resumes from the stored next run.

  Background:
    Given an admin who signed in and 2 other users, 1 of them verified

  Scenario: Due schedules become jobs once, and survive a restart
    When the schedule tick runs
    Then jobs of the kinds "monitoring.evaluate_alerts, monitoring.retention" were submitted
    And the admin sees them in /api/jobs
    And the schedule "tushare_refresh" is disabled
    When the schedule tick runs again at once
    Then no job was submitted
    When the process restarts and the schedule tick runs
    Then no job was submitted
    When the schedule tick runs after the alert interval
    Then jobs of the kinds "monitoring.evaluate_alerts" were submitted

  Scenario: The Tushare refresh is scheduled daily after the close when a token is configured
    Given a Tushare token is configured
    When the schedule tick runs
    Then the schedule "tushare_refresh" is enabled and next due at 16:30 Asia/Shanghai

  Scenario: Retention deletes only what is old
    Given an idempotency key made 2 days ago and one made now
    And a job that finished 40 days ago and one that finished today, each with events
    When retention runs
    Then 1 idempotency key and the old job's events were deleted
    And the new key and the new job's events remain
