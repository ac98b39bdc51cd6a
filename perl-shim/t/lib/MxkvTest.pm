package MxkvTest;
# Helpers of the perl-shim tests.
use strict;
use warnings;
use Exporter qw(import);
use Test::More;
use PDL::Lite;

our @EXPORT = qw(all_equal all_close values_of dies_like no_warnings_from);

# The array's elements as a flat Perl list.
sub values_of { @{ $_[0]->aspdl->flat->unpdl } }

# Every element of the NDArray equals $x.
sub all_equal
{
    my ($nd, $x, $name) = @_;
    my @bad = grep { $_ != $x } values_of($nd);
    ok(!@bad, $name) or diag("expected every element to be $x, got: @{[ values_of($nd) ]}");
}

# Element-wise |a - b| <= tol * (1 + |b|) against a Perl list or a PDL.
sub all_close
{
    my ($nd, $expected, $name, $tol) = @_;
    $tol //= 1e-5;
    my @got = values_of($nd);
    my @want = ref $expected eq 'ARRAY' ? @$expected : @{ $expected->flat->unpdl };
    my @bad = grep { abs($got[$_] - $want[$_]) > $tol * (1 + abs($want[$_])) } 0 .. $#want;
    ok(@got == @want && !@bad, $name) or diag("got: @got\nwant: @want");
}

# The code dies with a message matching $re (and the process goes on).
sub dies_like
{
    my ($code, $re, $name) = @_;
    my $ok = eval { $code->(); 1 };
    my $err = $@;
    ok(!$ok && $err =~ $re, $name) or diag($ok ? 'it did not die' : "it died with: $err");
    return $err;
}

# Runs the code and checks that it warned nothing.
sub no_warnings_from
{
    my ($code, $name) = @_;
    my @warnings;
    {
        local $SIG{__WARN__} = sub { push @warnings, @_ };
        $code->();
    }
    ok(!@warnings, $name) or diag("warnings: @warnings");
}

1;
