Feature: The live summary follows every change
  The summary stream (SSE and WebSocket at /api/monitor/stream) pushes a fresh summary as soon as a job
  changes state — it follows the events job orchestration publishes after each commit — not only every
  HUICE_MONITOR_STREAM_INTERVAL_S, so the stream and REST never disagree for long. Here the interval is
  120 seconds and the change must arrive within 30.

  Background:
    Given a database of its own with an admin and a queued run, and a stream interval of 120 seconds

  Scenario: A run's state change is pushed on the stream at once
    When the admin opens the summary stream and the run is cancelled after the first summary
    Then the next summary arrives before the interval and counts the run as cancelled
    And that summary equals the REST summary but for the time it was made

  Scenario: A run's state change is pushed on the WebSocket at once
    When the admin opens the summary WebSocket and the run is cancelled after the first summary
    Then the next summary arrives before the interval and counts the run as cancelled
    And that summary equals the REST summary but for the time it was made
