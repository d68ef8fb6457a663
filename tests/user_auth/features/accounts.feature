Feature: Accounts — register, verify, log in, see my account
  A trader creates an account with email and password, confirms the address from the mail, logs in and
  sees their own account. Nothing secret is ever returned by the API after creation.

  Scenario: A new user registers and receives a verification mail
    When a visitor registers as "new@example.com" with password "Correct-Horse-9"
    Then the response status is 201
    And the response shows account "new@example.com" with role "user", plan "free", unverified
    And the dev mailbox holds 1 "verify_email" mail for "new@example.com"
    And the response does not contain the mailed token for "new@example.com"

  Scenario: Registering an email that is taken is a conflict
    Given a registered user "taken@example.com" with password "Correct-Horse-9"
    When a visitor registers as "Taken@Example.com" with password "Another-Horse-7"
    Then the error is 409 "CONFLICT" with details field "email"

  Scenario Outline: Weak passwords are refused with the field named
    When a visitor registers as "weak@example.com" with password "<password>"
    Then the error is 422 "INVALID_INPUT" with details field "password"
    And the error message is "<message>"

    Examples:
      | password         | message                                      |
      | short-1          | password must have at least 10 characters    |
      | weak@example.com | password must not be your email address     |
      | password123      | password is too common; choose another       |
      | aaaaaaaaaaaaaa   | password is too common; choose another       |

  Scenario: An invalid email address is refused
    When a visitor registers as "not-an-email" with password "Correct-Horse-9"
    Then the error is 422 "INVALID_INPUT" with details field "email"

  Scenario: Verifying the email address with the mailed token
    Given a registered user "verify@example.com" with password "Correct-Horse-9"
    When the visitor verifies with the token mailed to "verify@example.com"
    Then the response status is 200
    And the account "verify@example.com" is verified
    When the visitor verifies with the token mailed to "verify@example.com"
    Then the error is 422 "INVALID_INPUT" with details field "token"

  Scenario: Logging in returns tokens and the account
    Given a registered user "login@example.com" with password "Correct-Horse-9"
    When "login@example.com" logs in with password "Correct-Horse-9"
    Then the response status is 200
    And the response holds an access token for "huice-api" and a refresh token
    And with that access token GET "/api/auth/me" shows "login@example.com"

  Scenario: A wrong password and an unknown email get the same answer
    Given a registered user "known@example.com" with password "Correct-Horse-9"
    When "known@example.com" logs in with password "Wrong-Horse-99"
    Then the error is 401 "UNAUTHORIZED" with message "invalid email or password"
    When "nobody@example.com" logs in with password "Wrong-Horse-99"
    Then the error is 401 "UNAUTHORIZED" with message "invalid email or password"

  Scenario: A request without credentials is refused with a Bearer challenge
    When an anonymous visitor GETs "/api/auth/me"
    Then the error is 401 "UNAUTHORIZED" with message "missing bearer credential"
    And the response header "WWW-Authenticate" is "Bearer"
