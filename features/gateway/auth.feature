@gateway
Feature: Authentication
  A missing token is 401 UNAUTHORIZED, a wrong one 403 FORBIDDEN; neither echoes the token.

  Background:
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello"

  @GW-AUTH-001 @GW-AUTH-003
  Scenario: A request without a token is rejected with 401
    When a client sends a chat completion request without a token
    Then the response is an error envelope with code "UNAUTHORIZED"
    And provider "primary" received 0 requests

  @GW-AUTH-002 @GW-ENV-003
  Scenario: A wrong token is rejected with 403 and never echoed
    When a client sends a chat completion request with the token "sk-wrong-0123456789abcdef"
    Then the response is an error envelope with code "FORBIDDEN"
    And the response does not contain "sk-wrong-0123456789abcdef"
    And the gateway log does not contain "sk-wrong-0123456789abcdef"
    And provider "primary" received 0 requests

  @GW-AUTH-004
  Scenario: The client's token never reaches a provider
    When a client sends a chat completion request
    Then the response status is 200
    And provider "primary" never received the client's token
