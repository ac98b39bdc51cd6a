# AI::MXNet::Optimizer (SGD), AI::MXNet::Updater and AI::MXNet::KVStoreServer's controller.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(encode_base64);
use Storable qw(freeze);
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

srand(7);
my $shape = [3, 5];
sub random_pdl { PDL->pdl([map { [map { rand(4) - 2 } 1 .. $shape->[1]] } 1 .. $shape->[0]]) }

# MXNet's sgd_update / sgd_mom_update in double precision.
sub sgd_reference
{
    my ($w, $m, $grad, %o) = @_;
    my $g = $grad * $o{rescale_grad};
    if (defined $o{clip_gradient} and $o{clip_gradient} > 0) {
        my $c = $o{clip_gradient};
        $g = $g->copy;
        $g->where($g > $c) .= $c;
        $g->where($g < -$c) .= -$c;
    }
    my $step = $o{lr} * ($g + $o{wd} * $w);
    if (defined $m) {
        $m = $o{momentum} * $m - $step;
        return ($w + $m, $m);
    }
    return ($w - $step, undef);
}

my @cases = (
    { lr => 0.1,  momentum => 0,   wd => 0,    rescale_grad => 1,   clip_gradient => undef },
    { lr => 0.05, momentum => 0.9, wd => 0,    rescale_grad => 1,   clip_gradient => undef },
    { lr => 0.2,  momentum => 0.5, wd => 0.01, rescale_grad => 0.25, clip_gradient => undef },
    { lr => 0.1,  momentum => 0,   wd => 0.1,  rescale_grad => 2,   clip_gradient => 1.5 },
    { lr => 0.3,  momentum => 0.8, wd => 0.02, rescale_grad => 0.5, clip_gradient => 0.3 },
);

for my $case (@cases) {
    my $name = join(', ', map { "$_=" . ($case->{$_} // 'undef') } sort keys %$case);
    subtest "SGD through a store: $name" => sub {
        my $kv = mx->kv->create('local');
        my $w0 = random_pdl();
        $kv->init('w', mx->nd->array($w0));
        $kv->set_optimizer(mx->optimizer->SGD(
            learning_rate => $case->{lr}, momentum => $case->{momentum}, wd => $case->{wd},
            rescale_grad  => $case->{rescale_grad},
            (defined $case->{clip_gradient} ? (clip_gradient => $case->{clip_gradient}) : ()),
        ));
        my ($w, $m) = ($w0, $case->{momentum} ? $w0 * 0 : undef);
        for my $step (1 .. 3) {
            my @grads = map { random_pdl() } 1 .. 2;
            $kv->push('w', [map { mx->nd->array($grads[$_], ctx => mx->cpu($_)) } 0 .. 1]);
            ($w, $m) = sgd_reference($w, $m, $grads[0] + $grads[1], %$case);
            my $out = mx->nd->zeros($shape);
            $kv->pull('w', out => $out);
            all_close($out, $w, "step $step", 1e-5);
        }
    };
}

subtest 'optimizer settings' => sub {
    my $sgd = AI::MXNet::Optimizer->create_optimizer('SGD', learning_rate => 0.5, momentum => 0.1);
    isa_ok($sgd, 'AI::MXNet::SGD');
    is($sgd->lr, 0.5, 'lr follows learning_rate');
    isa_ok(mx->optimizer->create('sgd'), 'AI::MXNet::SGD', 'create is create_optimizer');
    is(mx->optimizer->SGD->learning_rate, 0.01, 'default learning rate');
    $sgd->set_lr_mult({ 0 => 0.1 });
    is($sgd->_get_lr(0), 0.05, 'lr_mult by index');
    is($sgd->_get_lr(1), 0.5, 'other indices keep lr');
    my $named = mx->optimizer->SGD(wd => 0.1, param_idx2name => { 0 => 'fc_weight', 1 => 'fc_bias' });
    is($named->_get_wd(0), 0.1, 'weights decay');
    is($named->_get_wd(1), 0, 'biases do not');
    $sgd->_update_count(3) for 1 .. 2;
    is($sgd->num_update, 2, 'num_update counts updates');
    dies_like(sub { mx->optimizer->SGD(momentum => 'fast') }, qr/momentum/, 'attributes are type-checked');
};

subtest 'Updater: states, get_states and set_states' => sub {
    my $updater = AI::MXNet::Optimizer->get_updater(mx->optimizer->SGD(learning_rate => 1, momentum => 0.5));
    isa_ok($updater, 'AI::MXNet::Updater');
    my $weight = mx->nd->zeros([2]);
    $updater->(4, mx->nd->ones([2]), $weight);     # called like a code ref, as the store calls it
    all_close($weight, [-1, -1], 'first step');
    ok(exists $updater->states->{4}, 'a state per index');
    all_close($updater->states->{4}, [-1, -1], 'the momentum');
    my $saved = $updater->get_states;
    $updater->(4, mx->nd->ones([2]), $weight);
    all_close($weight, [-2.5, -2.5], 'second step uses the momentum');

    my $other = AI::MXNet::Optimizer->get_updater(mx->optimizer->SGD(learning_rate => 1, momentum => 0.5));
    $other->set_states($saved);
    my $w2 = mx->nd->array([-1, -1]);
    $other->(4, mx->nd->ones([2]), $w2);
    all_close($w2, [-2.5, -2.5], 'set_states restores the momentum');
    is($other->states_synced->{4}, 1, 'the restored state was moved to the weight\'s context');

    my $with_opt = $updater->get_states(1);
    my $third = AI::MXNet::Optimizer->get_updater(mx->optimizer->SGD(learning_rate => 99));
    $third->set_states($with_opt);
    is($third->optimizer->learning_rate, 1, 'get_states(1) carries the optimizer');
};

subtest 'KVStoreServer controller' => sub {
    my $kv = mx->kv->create('local');
    $kv->init('w', mx->nd->zeros([2]));
    my $server = mx->kvstore_server->new(kvstore => $kv);
    isa_ok($server->handle, 'KVStoreHandle');
    my $controller = $server->_controller;
    $controller->(0, encode_base64(freeze(mx->optimizer->SGD(learning_rate => 0.5)), ''));
    isa_ok($kv->_native_optimizer, 'AI::MXNet::SGD', 'command 0 installs the optimizer');
    is($kv->_native_optimizer->learning_rate, 0.5, 'as it was sent');
    $kv->push('w', mx->nd->ones([2]));
    my $out = mx->nd->zeros([2]);
    $kv->pull('w', out => $out);
    all_close($out, [-0.5, -0.5], 'and pushes go through it');

    my $printed = '';
    {
        open(my $fh, '>', \$printed) or die;
        my $old = select($fh);
        $controller->(7, 'hello');
        select($old);
    }
    is($printed, "server 0, unknown command (7, hello)\n", 'other commands are reported');
    ok(eval { $server->run; 1 }, 'run on a local store returns at once') or diag($@);
};

done_testing;
