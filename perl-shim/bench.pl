#!/usr/bin/perl
# Speed of mxkv from Perl: push+pull per second for small (1000) and large (1e6) float32 arrays,
# through AI::MXNet and through the bare XS layer, and what an updater costs per push (the
# figures in parentheses: over the loop without an updater, or for the Perl updaters doing
# arithmetic over the one doing nothing): Perl updaters, and optimizers that the store runs
# natively or that a Perl updater runs through MXKVOptimizerUpdate.
#
#   perl -Mblib bench.pl [seconds per measurement, default 1]
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/blib/lib", "$FindBin::Bin/blib/arch";
use Time::HiRes qw(time);
use AI::MXNet qw(mx);

my $budget = shift // 1;

# Seconds per call of $code: the best of 5 rounds of about $budget/5 seconds each (the best
# round is the one least disturbed by other work on the machine).
sub per_call
{
    my ($code) = @_;
    $code->() for 1 .. 3;    # warm up
    my $best;
    for my $round (1 .. 5) {
        my ($n, $t0, $batch) = (0, time, 1);
        while (1) {
            $code->() for 1 .. $batch;
            $n += $batch;
            my $dt = time - $t0;
            if ($dt >= $budget / 5) {
                $best = $dt / $n if not defined $best or $dt / $n < $best;
                last;
            }
            $batch *= 2 if $batch < 1 << 16;
        }
    }
    return $best;
}

sub fmt_time
{
    my $s = shift;
    return $s >= 1e-3 ? sprintf('%8.3f ms', $s * 1e3) : sprintf('%8.2f us', $s * 1e6);
}

sub line
{
    my ($what, $seconds, $extra) = @_;
    printf("  %-58s %s  %10.0f /s%s\n", $what, fmt_time($seconds), 1 / $seconds, $extra // '');
}

printf("mxkv %s (MXNet API %d) from Perl %vd, %s s per measurement\n\n",
    join('.', unpack('A2A2A2', sprintf('%06d', mx->mxkv_version))) =~ s/(^|\.)0(\d)/$1$2/gr,
    mx->api_version, $^V, $budget);

for my $n (1000, 1_000_000) {
    my $shape = [$n];
    my $label = $n == 1000 ? '1000 float32' : '1e6 float32';
    print "$label:\n";

    my $kv = mx->kv->create('local');
    $kv->init('k', mx->nd->zeros($shape));
    my $grad = mx->nd->ones($shape);
    my $out = mx->nd->zeros($shape);

    # AI::MXNet, as a training loop writes it
    my $plain = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
    line('push+pull, AI::MXNet::KVStore', $plain);

    # the XS layer alone (what the Perl wrappers cost is the difference)
    my ($h, $keys, $vals, $outs) = ($kv->handle, ['k'], [$grad->handle], [$out->handle]);
    line('push+pull, AI::MXNetCAPI', per_call(sub {
        AI::MXNetCAPI::KVStorePushEx($h, 1, $keys, $vals, 0);
        AI::MXNetCAPI::KVStorePullWithSparseEx($h, 1, $keys, $outs, 0, 1);
    }));

    # four devices summed, pulled into four outputs
    my @grads = map { mx->nd->ones($shape, ctx => mx->cpu($_)) } 0 .. 3;
    my @outs = map { mx->nd->zeros($shape, ctx => mx->cpu($_)) } 0 .. 3;
    line('push of 4 devices + pull into 4, AI::MXNet::KVStore',
        per_call(sub { $kv->push('k', \@grads); $kv->pull('k', out => \@outs) }));

    # Perl updaters: the empty one shows the cost of the call itself (two handles wrapped and
    # freed); the others, what their arithmetic adds to it.
    $kv->_set_updater(sub { });
    my $noop = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
    my $vs_plain = sub { sprintf('   (%+.2f us vs. no updater)', ($_[0] - $plain) * 1e6) };
    line('push+pull, Perl updater doing nothing', $noop, $vs_plain->($noop));

    for my $case (['$stored += $input', sub { $_[2] += $_[1] }],
                  ['$stored += $input * 2', sub { $_[2] += $_[1] * 2 }]) {
        my ($what, $updater) = @$case;
        $kv->_set_updater(sub { my ($index, $input, $stored) = @_; $updater->($index, $input, $stored) });
        my $t = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
        line("push+pull, Perl updater $what", $t, sprintf('   (+%s)', fmt_time($t - $noop) =~ s/^\s+//r));
    }

    $kv->set_optimizer(mx->optimizer->SGD(learning_rate => 0.01, momentum => 0.9, wd => 1e-4));
    my $sgd = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
    line('push+pull, SGD optimizer (momentum, wd; native updater)', $sgd, $vs_plain->($sgd));

    # Adam run by the store natively (set_optimizer on a local store), and the same Adam in a
    # Perl updater, whose step is one MXKVOptimizerUpdate call per push.
    $kv->set_optimizer(mx->optimizer->Adam(wd => 1e-4));
    my $adam = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
    line('push+pull, Adam optimizer (native updater)', $adam, $vs_plain->($adam));
    $kv->_set_updater(AI::MXNet::Optimizer->get_updater(mx->optimizer->Adam(wd => 1e-4)));
    my $adam_perl = per_call(sub { $kv->push('k', $grad); $kv->pull('k', out => $out) });
    line('push+pull, Adam optimizer (Perl updater)', $adam_perl, $vs_plain->($adam_perl));

    # the C baseline for the bytes involved: one copy in, one copy out
    my $bytes = pack('f*', (1) x $n);
    my $buf = "\0" x length $bytes;
    line('reference: copy the bytes in and out (SyncCopy, 2 calls)', per_call(sub {
        AI::MXNetCAPI::NDArraySyncCopyFromCPU($grad->handle, $bytes, $n);
        AI::MXNetCAPI::NDArraySyncCopyToCPU($out->handle, $buf, $n);
    }));
    print "\n";
}
