@gateway
Feature: Authentication
  A missing token is 401 UNAUTHORIZED, a wrong one 403 FORBIDDEN; neither echoes the token, and
  the client's token never travels on to a provider.

  @GW-AUTH-001 @GW-AUTH-003
  Scenario: A request without a token is rejected with 401
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello"
    When a client sends a chat completion request without a token
    Then the response is an error envelope with code "UNAUTHORIZED"
    And provider "primary" received 0 requests

  @GW-AUTH-002 @GW-ENV-003
  Scenario: A wrong token is rejected with 403 and never echoed
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello"
    When a client sends a chat completion request with the token "sk-wrong-0123456789abcdef"
    Then the response is an error envelope with code "FORBIDDEN"
    And the response does not contain "sk-wrong-0123456789abcdef"
    And the gateway log does not contain "sk-wrong-0123456789abcdef"
    And provider "primary" received 0 requests

  @GW-AUTH-002 @GW-AUTH-003
  Scenario: The valid token with one more character is a wrong token
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello"
    When a client sends a chat completion request with the valid token and one more character
    Then the response is an error envelope with code "FORBIDDEN"
    And provider "primary" received 0 requests

  @GW-AUTH-004
  Scenario Outline: The client's token never reaches a <kind> provider
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" streams "Hello"
    When a client sends a chat completion request
    Then the response status is 200
    And provider "primary" never received the client's token

    Examples:
      | kind   |
      | openai |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |

    @feature-gemini_upstream
    Examples:
      | kind   |
      | gemini |
