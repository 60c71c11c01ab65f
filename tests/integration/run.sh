#!/bin/bash
# Integration tests with real peers; replaced by the pytest suite.
echo "integration: no integration tests yet"
