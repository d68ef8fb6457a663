Feature: Platform basics
  Every huice process answers liveness and readiness probes, speaks one error envelope
  and tags every request with a request id.

  Scenario: Liveness
    When I GET "/health"
    Then the status is 200
    And the JSON field "status" is "ok"

  Scenario: Not ready without a worker
    Given no worker is running
    When I GET "/ready"
    Then the status is 503
    And the readiness check "postgres" passed
    And the readiness check "redis" passed
    And the readiness check "migrations" passed
    And the readiness check "workers" failed

  Scenario: Ready with a live worker
    Given a worker process is running
    When I GET "/ready"
    Then the status is 200
    And the readiness check "workers" passed

  Scenario: The data provider and the scheduler are reported without gating readiness
    Given a worker process is running
    And a Tushare token the provider refuses
    When I GET "/ready"
    Then the status is 200
    And the readiness check "data_provider" failed
    And the readiness check "scheduler" lists the schedules
    And readiness is gated by "postgres, redis, migrations, workers"

  Scenario: Unknown route answers in the error envelope
    When I GET "/api/does-not-exist"
    Then the status is 404
    And the error code is "NOT_FOUND"

  Scenario: Wrong method answers in the error envelope
    When I send DELETE to "/health"
    Then the status is 405
    And the error code is "INVALID_INPUT"

  Scenario: A request id is echoed
    When I GET "/health" with request id "trace-42"
    Then the response header "X-Request-ID" is "trace-42"

  Scenario: A request id is generated when missing
    When I GET "/health"
    Then the response carries a generated request id

  Scenario: The OpenAPI document lists the error envelope
    When I GET "/openapi.json"
    Then the status is 200
    And the OpenAPI document defines the "ErrorEnvelope" schema
