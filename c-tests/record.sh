# Sourced by the C test scripts (c-tests/run.sh, c-tests/dist/run.sh): one "ok   NAME" or
# "FAIL NAME" line per program run, and a closing list of failures and "N passed, M failed".
passed=0
failed=0
failures=()

record() { # name, status
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        printf 'ok   %s\n' "$1"
    else
        failed=$((failed + 1))
        failures+=("$1")
        printf 'FAIL %s\n' "$1"
    fi
}

# The closing lines; succeeds when nothing failed.
summary() {
    if ((${#failures[@]})); then
        echo "failed:"
        printf '  %s\n' "${failures[@]}"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
