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

  @GW-CLEANUP-002 @coarse-timing @fresh-instance
  Scenario: Broken upstream connections are closed before the next attempt
    Given provider "primary" speaks the openai wire format
    And provider "primary" always streams "Hello brave new world" in 4 chunks, then cuts the connection after 2
    When a client sends a chat completion request
    Then provider "primary" received 6 requests
    And provider "primary" never held more than 1 connection at a time
