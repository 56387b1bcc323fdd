@gateway
Feature: Upstream connections the gateway no longer needs are closed
  A client that hangs up, or an attempt that failed, leaves no upstream connection behind: it is
  closed within the cleanup timeout, or before the next attempt, streaming or not.

  @GW-CLEANUP-001
  Scenario: A client that hangs up before its answer gets the upstream connection closed
    Given provider "primary" speaks the openai wire format
    And provider "primary" stalls before answering
    When a client sends a chat completion request and hangs up once provider "primary" has received it
    Then the connection from the gateway to provider "primary" is closed within the cleanup timeout

  @GW-CLEANUP-002 @fresh-instance
  Scenario Outline: A failed attempt's connection is closed before the next attempt: <failure>
    Given provider "primary" speaks the openai wire format
    And provider "primary" <failure> 2 times, then streams "Hello"
    When a client sends a chat completion request
    Then the completion text is "Hello"
    And provider "primary" received 3 requests
    And provider "primary" never held more than 1 connection at a time
    And the gateway held no connection to provider "primary" once it answered

    Examples:
      | failure                                                                  |
      | answers 503                                                              |
      | sends a broken event after its first chunk and keeps the connection open |
