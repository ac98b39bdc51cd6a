# The FFI::Platypus example runs and prints the expected values.
use strict;
use warnings;
use FindBin qw($Bin);
use Test::More;

my $output = `$^X "$Bin/../kvstore_example.pl" 2>&1`;
is($?, 0, 'kvstore_example.pl exits 0') or diag($output);
like($output, qr/^updater: key weight, grad\[0\] = 10$/m, 'updater saw the summed gradient');
like($output, qr/^pulled: 1 1 1 1 1 1$/m, '2 - 0.1 * 10 = 1 pulled');
done_testing();
