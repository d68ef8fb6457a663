Feature: External identity (Supabase Auth / JWKS)
  When configured, tokens issued by Supabase Auth (audience "authenticated") are accepted and a local
  user is provisioned on first sight.

  Scenario: A Supabase HS256 token provisions a local user once
    Given external identity is configured with a Supabase secret
    When a Supabase token for subject "sb-123" and email "sb@example.com" calls GET "/api/auth/me"
    Then the response status is 200
    And the response shows account "sb@example.com" with role "user", plan "free", verified
    When a Supabase token for subject "sb-123" and email "sb@example.com" calls GET "/api/auth/me"
    Then exactly one account exists for "sb@example.com"

  Scenario: A Supabase token with the wrong audience or key is refused
    Given external identity is configured with a Supabase secret
    When a Supabase token with audience "anon" calls GET "/api/auth/me"
    Then the error is 401 "UNAUTHORIZED" with message "invalid or expired credentials"
    When a Supabase token signed with another secret calls GET "/api/auth/me"
    Then the error is 401 "UNAUTHORIZED" with message "invalid or expired credentials"

  Scenario: An ES256 token verified against a JWKS file is accepted
    Given external identity is configured with a JWKS file
    When an ES256 token for subject "jw-9" and email "jw@example.com" calls GET "/api/auth/me"
    Then the response status is 200
    And the response shows account "jw@example.com" with role "user", plan "free", verified

  Scenario: External tokens are refused when external identity is not configured
    When a Supabase token for subject "sb-123" and email "sb@example.com" calls GET "/api/auth/me"
    Then the error is 401 "UNAUTHORIZED" with message "invalid or expired credentials"
