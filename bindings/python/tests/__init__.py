"""The python3-wxshm suite: unit tests, the conformance kit, the real agent (run by test.sh)."""
