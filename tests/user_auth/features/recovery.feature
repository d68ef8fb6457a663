Feature: Password reset through the dev mailbox
  A user who forgot their password asks for a reset; the link arrives by mail only, works once, expires
  after 30 minutes and ends every session. The answer never reveals whether an address is registered.

  Background:
    Given a registered user "r@example.com" with password "Correct-Horse-9"
    And "r@example.com" is logged in as "old"

  Scenario: Resetting a forgotten password from the mailbox
    When a reset is requested for "r@example.com"
    Then the response status is 202
    And the dev mailbox holds 1 "reset_password" mail for "r@example.com"
    And the response does not contain the mailed token for "r@example.com"
    When the password is reset to "Fresh-Horse-42" with the token mailed to "r@example.com"
    Then the response status is 204
    And the access token of session "old" is refused
    And "r@example.com" can log in with password "Fresh-Horse-42"
    And "r@example.com" cannot log in with password "Correct-Horse-9"

  Scenario: A reset request for an unknown address gets the same answer and sends nothing
    When resets are requested for "r@example.com" and "ghost@example.com"
    Then both reset answers are identical
    And the dev mailbox holds 0 "reset_password" mail for "ghost@example.com"

  Scenario: A used reset token is refused
    When a reset is requested for "r@example.com"
    And the password is reset to "Fresh-Horse-42" with the token mailed to "r@example.com"
    And the password is reset to "Other-Horse-43" with the token mailed to "r@example.com"
    Then the error is 422 "INVALID_INPUT" with details field "token"

  Scenario: An expired reset token is refused
    When a reset was requested for "r@example.com" 31 minutes ago
    And the password is reset to "Fresh-Horse-42" with the token mailed to "r@example.com"
    Then the error is 422 "INVALID_INPUT" with details field "token"

  Scenario: A weak new password is refused and the token stays usable
    When a reset is requested for "r@example.com"
    And the password is reset to "password123" with the token mailed to "r@example.com"
    Then the error is 422 "INVALID_INPUT" with details field "new_password"
    When the password is reset to "Fresh-Horse-42" with the token mailed to "r@example.com"
    Then the response status is 204
