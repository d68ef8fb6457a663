Feature: Throttling of login, registration, reset and verification
  Attempts are counted per account and per client address in Redis; over the limit the answer is 429
  RATE_LIMITED with Retry-After and X-RateLimit headers.

  Scenario: Brute-forcing a password is throttled per account
    Given a registered user "b@example.com" with password "Correct-Horse-9"
    When "b@example.com" fails to log in 5 times
    And "b@example.com" logs in with password "Correct-Horse-9"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
    And the rate-limit headers show limit 5 and remaining 0

  Scenario: Logins from one address are throttled across accounts
    When 20 different unknown emails fail to log in from one address
    And "another@example.com" logs in with password "Correct-Horse-9"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
    And the rate-limit headers show limit 20 and remaining 0

  Scenario: Reset requests are throttled per account
    Given a registered user "rr@example.com" with password "Correct-Horse-9"
    When a reset is requested for "rr@example.com" 3 times
    And a reset is requested for "rr@example.com"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"

  Scenario: Registrations are throttled per address
    When 10 visitors register from one address
    And a visitor registers as "eleventh@example.com" with password "Correct-Horse-9"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
