Feature: Rate limits on every route, by plan and route class
  Every route is rate-limited in Redis: routes with a caller per principal (a user's sessions, or each API
  key on its own) by plan and route class (read, write, submit, download), routes without one per client
  address. Every answer carries X-RateLimit-Limit / -Remaining / -Reset of the window closest to
  exhaustion; over a limit the answer is 429 RATE_LIMITED with Retry-After and the limit named. When the
  limiter's Redis is unreachable requests go through (logged), never a 500.

  Scenario: Ordinary answers carry the rate-limit headers
    Given the free plan allows "50/minute" reads and "20/minute" writes
    And a signed-in free user
    When the user reads their account
    Then the response status is 200
    And the rate-limit headers show limit 50 and remaining 49
    When the user creates an API key
    Then the response status is 201
    And the rate-limit headers show limit 20 and remaining 19
    When a visitor reads the plan catalogue
    Then the response status is 200
    And the response carries the rate-limit headers

  Scenario: Past the limit the answer is 429 with Retry-After naming the limit
    Given the free plan allows "3/minute" reads and "20/minute" writes
    And a signed-in free user
    When the user reads their account 3 times
    Then the response status is 200
    And the rate-limit headers show limit 3 and remaining 0
    When the user reads their account
    Then the error is 429 "RATE_LIMITED" naming the limit "3 per 1 minute" of "read" requests
    And the response has a Retry-After of at most 60 seconds

  Scenario: Each plan has its own limits
    Given the free plan allows "2/minute" reads and "20/minute" writes
    And the pro plan allows "5/minute" reads
    And a signed-in free user
    And a signed-in pro user
    When the user reads their account 3 times
    Then the error is 429 "RATE_LIMITED" naming the limit "2 per 1 minute" of "read" requests
    When the pro user reads their account 3 times
    Then the response status is 200
    And the rate-limit headers show limit 5 and remaining 2

  Scenario: An API key is limited separately from its user's session
    Given the free plan allows "2/minute" reads and "20/minute" writes
    And a signed-in free user
    And the user has an API key
    When the user reads their account 3 times
    Then the error is 429 "RATE_LIMITED" naming the limit "2 per 1 minute" of "read" requests
    When the user reads their account with the API key
    Then the response status is 200
    And the rate-limit headers show limit 2 and remaining 1

  Scenario: Routes without a caller are limited per client address
    Given anonymous requests are limited to "2/minute"
    When a visitor reads the plan catalogue 2 times
    Then the response status is 200
    When a visitor reads the plan catalogue
    Then the error is 429 "RATE_LIMITED" naming the limit "2 per 1 minute" of "anonymous" requests
    When a visitor from another address reads the plan catalogue
    Then the response status is 200

  Scenario: A refused credential counts against the client address
    Given anonymous requests are limited to "2/minute"
    When a caller with a bad token reads their account 2 times
    Then the response status is 401
    And the rate-limit headers show limit 2 and remaining 0
    When a caller with a bad token reads their account
    Then the error is 429 "RATE_LIMITED" naming the limit "2 per 1 minute" of "anonymous" requests

  Scenario: The limiter fails open when its Redis is unreachable
    Given the rate limiter's Redis is unreachable
    And a signed-in free user
    When the user reads their account
    Then the response status is 200
    And the response carries no rate-limit headers
    When the user creates an API key
    Then the response status is 201

  Scenario: Answers made before any route runs are limited per client address too
    Given anonymous requests are limited to "2/minute"
    When a visitor posts a body that is not JSON to the login route
    Then the response status is 422
    And the rate-limit headers show limit 2 and remaining 1
    When a visitor asks for an API path that does not exist
    Then the response status is 404
    And the rate-limit headers show limit 2 and remaining 0
    When a visitor asks for an API path that does not exist
    Then the error is 429 "RATE_LIMITED" naming the limit "2 per 1 minute" of "anonymous" requests
