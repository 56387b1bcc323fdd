@gateway @fresh-instance
Feature: Partial results survive a failure
  Text and tool calls received before an upstream failure are preserved in the error details
  of a non-streaming call.

  @GW-PARTIAL-001 @coarse-timing
  Scenario Outline: A <kind> stream cut after some text keeps that text in the error details
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" always streams "Hello brave new world" in 4 chunks, then cuts the connection after 2
    When a client sends a chat completion request
    Then the response is an error envelope with code "BAD_GATEWAY"
    And the error details carry the partial text "Hello brave"

    Examples:
      | kind      |
      | openai    |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |

    @feature-gemini_upstream
    Examples:
      | kind      |
      | gemini    |

  @GW-PARTIAL-002 @feature-tool_calls @coarse-timing
  Scenario Outline: A tool call received from a <kind> provider before a timeout is kept in the error details
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" streams "Let me check" and a tool call "get_weather", then stalls
    When a client sends a chat completion request
    Then the response is an error envelope with code "GATEWAY_TIMEOUT"
    And the error details carry the partial text "Let me check"
    And the error details carry a partial tool call "get_weather" with the arguments provider "primary" sent

    Examples:
      | kind      |
      | openai    |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |
