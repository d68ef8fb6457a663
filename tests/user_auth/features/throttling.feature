Feature: Throttling of login, registration, reset and verification
  Attempts are counted per account, per client address and per (account, address) in Redis; over the limit
  the answer is 429 RATE_LIMITED with Retry-After and X-RateLimit headers. Someone who knows an email cannot
  lock its owner out, and while the throttle's Redis is unreachable throttled attempts get 503, never a 500.

  Scenario: Brute-forcing a password is throttled per account and address
    Given a registered user "b@example.com" with password "Correct-Horse-9"
    When "b@example.com" fails to log in 5 times
    And "b@example.com" logs in with password "Correct-Horse-9"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
    And the rate-limit headers show limit 5 and remaining 0

  Scenario: Someone else's failed logins do not lock the owner out
    Given a registered user "victim@example.com" with password "Correct-Horse-9"
    When "victim@example.com" fails to log in 5 times from address "203.0.113.9"
    And "victim@example.com" logs in with password "Correct-Horse-9" from address "203.0.113.9"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
    When "victim@example.com" logs in with password "Correct-Horse-9" from address "198.51.100.7"
    Then the response status is 200

  Scenario: Failed logins from many addresses close the account to new addresses only
    Given a registered user "d@example.com" with password "Correct-Horse-9"
    And "d@example.com" signed in from address "198.51.100.7"
    And the account-wide login limit is "6/hour"
    When "d@example.com" fails to log in 3 times from address "203.0.113.1"
    And "d@example.com" fails to log in 3 times from address "203.0.113.2"
    And "d@example.com" logs in with password "Correct-Horse-9" from address "192.0.2.50"
    Then the error is 429 "RATE_LIMITED" with message "too many attempts; try again later"
    And the rate-limit headers show limit 6 and remaining 0
    When "d@example.com" logs in with password "Correct-Horse-9" from address "198.51.100.7"
    Then the response status is 200

  Scenario: A password reset through the mailbox lets the owner in from a new address
    Given a registered user "e@example.com" with password "Correct-Horse-9"
    And the account-wide login limit is "6/hour"
    And "e@example.com" fails to log in 3 times from address "203.0.113.1"
    And "e@example.com" fails to log in 3 times from address "203.0.113.2"
    When a reset is requested for "e@example.com"
    And the password is reset to "Fresh-Horse-42" with the token mailed to "e@example.com" from address "192.0.2.50"
    And "e@example.com" logs in with password "Fresh-Horse-42" from address "192.0.2.50"
    Then the response status is 200

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

  Scenario: Throttled attempts are refused with 503 while the throttle's Redis is unreachable
    Given a registered user "f@example.com" with password "Correct-Horse-9"
    And the throttle's Redis is unreachable
    When "f@example.com" logs in with password "Correct-Horse-9"
    Then the error is 503 "SERVICE_UNAVAILABLE" with message "sign-in protection is temporarily unavailable; try again shortly"
    And the response header "Retry-After" is "5"
    When a visitor registers as "g@example.com" with password "Correct-Horse-9"
    Then the error is 503 "SERVICE_UNAVAILABLE" with message "sign-in protection is temporarily unavailable; try again shortly"
    When a reset is requested for "f@example.com"
    Then the error is 503 "SERVICE_UNAVAILABLE" with message "sign-in protection is temporarily unavailable; try again shortly"
