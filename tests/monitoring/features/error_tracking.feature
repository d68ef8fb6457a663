Feature: Error tracking
  With HUICE_SENTRY_DSN set, the API and worker processes report unexpected errors to Sentry (sentry-sdk
  with its FastAPI and RQ integrations), with the platform's redaction: no token, password, header, body
  or strategy source leaves the process. The DSN points at a Sentry stand-in on 127.0.0.1 that keeps
  every envelope it receives.

  Background:
    Given a Sentry stand-in on 127.0.0.1 as HUICE_SENTRY_DSN

  Scenario: An unexpected API failure reaches Sentry without secrets
    Given the API with error tracking started and a route that fails unexpectedly
    When a request with a bearer token, a session cookie, a token in the query and a body with a password and strategy source fails there
    Then the answer is 500 INTERNAL_ERROR with the request id
    And Sentry received the event of the exception "RuntimeError" from the "api" process
    And no planted secret is in anything Sentry received

  Scenario: A failing job on a worker reaches Sentry without secrets
    Given a worker process started with HUICE_SENTRY_DSN
    When a job fails on it with an unexpected error whose message holds a password and a bearer token
    Then Sentry received the event of the exception "DiagnosticFailure" from the "worker" process
    And the event names the RQ job that failed
    And no planted secret is in anything Sentry received
