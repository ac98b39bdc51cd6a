# One program for every rank of a distributed job (run by 10-dist.t under mpirun): loading
# AI::MXNet makes the server ranks serve and exit; the workers check dist_sync through the
# AI::MXNet modules, as a Perl training script would use them.
use strict;
use warnings;
use AI::MXNet qw(mx);

my $shape = [2, 3];

sub check
{
    my ($name, $got, $want) = @_;
    my $diff = ($got - $want)->aspdl->abs->max;
    die "$name: got " . $got->aspdl . ", expected $want\n" if $diff > 1e-6;
}

my $kv = mx->kv->create('dist_sync');
my ($rank, $workers) = ($kv->rank, $kv->num_workers);
die "type is " . $kv->type . "\n" unless $kv->type eq 'dist_sync';

# rank 0's init wins; one push of every worker is summed
$kv->init(3, mx->nd->ones($shape) * (10 + $rank));
my $out = mx->nd->zeros($shape);
$kv->pull(3, out => $out);
check('init', $out, 10);
$kv->push(3, mx->nd->ones($shape) * ($rank + 1));
$kv->pull(3, out => $out);
check('push', $out, $workers * ($workers + 1) / 2);

# several devices' arrays of one key are summed on the worker first
$kv->push(3, [mx->nd->ones($shape), mx->nd->ones($shape)]);
$kv->pull(3, out => $out);
check('devices', $out, 2 * $workers);

# the optimizer travels to the servers (command 0, Storable + base64) and runs there, natively;
# without servers every worker runs it natively on the allreduced sum
$kv->set_optimizer(mx->optimizer->SGD(learning_rate => 0.1, rescale_grad => 1));
my $serverless = ($ENV{DMLC_NUM_SERVER} // '') eq '0';
die "the optimizer is not run natively without servers\n" if $serverless and not $kv->_native_optimizer;
die "a worker with servers runs the optimizer itself\n" if not $serverless and $kv->_native_optimizer;
$kv->_barrier;
$kv->init(5, mx->nd->ones($shape));
$kv->push(5, mx->nd->ones($shape));
$kv->pull(5, out => $out);
check('optimizer', $out, 1 - 0.1 * $workers);

$kv->_barrier;
print "worker $rank of $workers: ok\n";
