# Sourced by the test scripts that print one "ok - ..." or "not ok - ..." line per check and end
# with "N passed, M failed". Set CHECK_LOG first: the file a check's output goes to (shown on failure).
passed=0
failed=0
pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: runs the command quietly; its output is shown if it fails.
check() {
    local desc=$1
    shift
    if "$@" >"$CHECK_LOG" 2>&1; then
        pass "$desc"
    else
        fail "$desc"
        sed 's/^/    /' "$CHECK_LOG" | tail -n 30
    fi
}
# The closing line; succeeds when no check failed.
summary() {
    echo "$passed passed, $failed failed"
    [[ $failed == 0 ]]
}
