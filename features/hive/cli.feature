@hive @feature-hive_cli
Feature: The hive CLI's exit codes
  0 success, 1 error (with the code on stderr), 124 timeout, 255 when the hive cannot be reached.

  @HIVE-EXIT-001
  Scenario: A successful spawn exits 0
    When a user runs the hive CLI to spawn a worker for model "acme/tiny-chat" on cuda device 0
    Then the CLI exited 0

  @HIVE-EXIT-002 @HIVE-ENV-003
  Scenario: A spawn the hive refuses exits 1 with the error code on stderr
    Given GPU 0 fails to initialise
    When a user runs the hive CLI to spawn a worker for model "acme/tiny-chat" on cuda device 0
    Then the CLI exited 1 and printed "CUDA_DEVICE_FAILED" on stderr
    And the CLI's output does not contain the token

  @HIVE-EXIT-003 @coarse-timing
  Scenario: An inference that times out exits 124
    Given workers on GPU 0 hang after 0 tokens
    And a worker for model "acme/tiny-chat" is running on GPU 0
    When a user runs the hive CLI to infer "Say hello"
    Then the CLI exited 124

  @HIVE-EXIT-004
  Scenario: A hive that cannot be reached exits 255
    Given the hive is running
    When the hive is stopped
    And a user runs the hive CLI to download model "acme/tiny-chat"
    Then the CLI exited 255
