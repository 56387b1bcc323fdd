@gateway
Feature: Honouring the provider's Retry-After
  retry-after-ms wins over retry-after; a hint up to 60 s is waited instead of the computed
  delay; a longer one ends the retries with 429 RATE_LIMITED and retry_after_seconds.

  @GW-RETRY-007
  Scenario: A Retry-After within the cap is waited instead of the computed delay
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 429 with header "retry-after: 5" 1 time, then streams "Hello"
    When a client sends a chat completion request
    Then the response status is 200
    And the gap before request 2 to provider "primary" was about 5 seconds

  @GW-RETRY-007 @coarse-timing
  Scenario: A Retry-After just under the 60 s cap is waited too
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 429 with header "retry-after: 59" 1 time, then streams "Hello"
    When a client sends a chat completion request
    Then the response status is 200
    And the gap before request 2 to provider "primary" was about 59 seconds

  @GW-RETRY-008
  Scenario: retry-after-ms wins over retry-after
    Given provider "primary" speaks the anthropic wire format
    And provider "primary" answers 529 with headers "retry-after-ms: 3000" and "retry-after: 9" 1 time, then streams "Hello"
    When a client sends a chat completion request
    Then the response status is 200
    And the gap before request 2 to provider "primary" was about 3 seconds

  # Coarse: a gateway that waits such a hint out would otherwise keep the client for minutes.
  @GW-RETRY-009 @fresh-instance @coarse-timing
  Scenario Outline: A Retry-After beyond the cap (<hint>) ends the retries with 429 RATE_LIMITED
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 429 with header "<hint>"
    When a client sends a chat completion request
    Then the response is an error envelope with code "RATE_LIMITED"
    And the response carries a Retry-After of <seconds> seconds
    And provider "primary" received 1 request

    Examples:
      | hint                  | seconds |
      | retry-after: 90       | 90      |
      | retry-after-ms: 90500 | 91      |
