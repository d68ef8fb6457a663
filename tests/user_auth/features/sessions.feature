Feature: Sessions — refresh rotation, reuse detection, logout, password change
  Refresh tokens are single use: each refresh returns a new one, and presenting a used one revokes the
  whole session (family). Logging out or changing the password ends sessions at once.

  Background:
    Given a registered user "s@example.com" with password "Correct-Horse-9"
    And "s@example.com" is logged in as "first"

  Scenario: Refreshing rotates the refresh token
    When session "first" is refreshed
    Then the response status is 200
    And the new refresh token differs from the old one
    And with that access token GET "/api/auth/me" shows "s@example.com"

  Scenario: Reusing a refresh token revokes the whole session
    When session "first" is refreshed
    And the old refresh token of session "first" is presented again
    Then the error is 401 "UNAUTHORIZED" with message "refresh token reuse detected; the session was revoked"
    And the newest refresh token of session "first" is refused
    And the access token of session "first" is refused
    And the audit log has a "refresh.reuse_detected" failure for "s@example.com"

  Scenario: Logging out ends the session
    When session "first" logs out
    Then the response status is 204
    And the access token of session "first" is refused
    And the refresh token of session "first" is refused

  Scenario: Changing the password ends every other session
    Given "s@example.com" is logged in as "second"
    When session "first" changes the password from "Correct-Horse-9" to "Brand-New-Horse-5"
    Then the response status is 204
    And the access token of session "second" is refused
    And with session "first" GET "/api/auth/me" shows "s@example.com"
    And "s@example.com" can log in with password "Brand-New-Horse-5"

  Scenario: Changing the password needs the current one
    When session "first" changes the password from "Not-The-Password-1" to "Brand-New-Horse-5"
    Then the error is 422 "INVALID_INPUT" with details field "current_password"

  Scenario Outline: Forged and stale access tokens are refused
    When a request presents a <kind> access token for "s@example.com"
    Then the error is 401 "UNAUTHORIZED" with message "<message>"
    And the response header "WWW-Authenticate" is "Bearer"

    Examples:
      | kind           | message                          |
      | expired        | access token expired             |
      | tampered       | invalid or expired credentials   |
      | wrong-audience | invalid or expired credentials   |
      | alg-none       | invalid or expired credentials   |
      | wrong-key      | invalid or expired credentials   |
      | wrong-issuer   | invalid or expired credentials   |
      | garbage        | invalid or expired credentials   |
