# Every example of AI::MXNet::KVStore's documentation (MXNet 1.x KVStore.pm POD), with the values
# it shows. Where the POD places arrays on mx->gpu($i), the devices here are mx->cpu($i).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

my $shape = [2, 3];
my $keys  = [5, 7, 9];
my $devs  = [map { mx->cpu($_) } 0 .. 3];

# A store in the state the POD examples start from: key 3 holds 2, keys 5, 7, 9 hold 1.
sub pod_store
{
    my $kv = mx->kv->create('local');
    $kv->init(3, mx->nd->ones($shape) * 2);
    $kv->init($keys, [map { mx->nd->ones($shape) } 0 .. @$keys - 1]);
    return $kv;
}

subtest 'init' => sub {
    my $kv = mx->kv->create('local');
    $kv->init(3, mx->nd->ones($shape) * 2);
    my $a = mx->nd->zeros($shape);
    $kv->pull(3, out => $a);
    all_equal($a, 2, 'init a single key-value pair');
    $kv->init($keys, [map { mx->nd->ones($shape) } 0 .. @$keys - 1]);
    for my $k (@$keys) {
        my $b = mx->nd->zeros($shape);
        $kv->pull($k, out => $b);
        all_equal($b, 1, "init a list of key-value pairs: key $k");
    }
};

subtest 'push' => sub {
    my $kv = pod_store();
    my $a = mx->nd->zeros($shape);
    $kv->push(3, mx->nd->ones($shape) * 8);
    $kv->pull(3, out => $a);
    all_equal($a, 8, 'push a single key-value pair');

    my $b = [map { mx->nd->ones($shape, ctx => $_) } @$devs];
    $kv->push(3, $b);
    $kv->pull(3, out => $a);
    all_equal($a, 4, 'aggregate the values pushed from 4 devices');

    $kv->push($keys, [map { mx->nd->ones($shape) } 0 .. @$keys - 1]);
    $b = [map { mx->nd->zeros($shape) } 0 .. @$keys - 1];
    $kv->pull($keys, out => $b);
    all_equal($b->[1], 1, 'push a list of keys, single device');

    $b = [map { [map { mx->nd->ones($shape, ctx => $_) } @$devs] } 0 .. @$keys - 1];
    $kv->push($keys, $b);
    $kv->pull($keys, out => $b);
    all_equal($b->[1][1], 4, 'push a list of keys, multiple devices');
    is($b->[1][1]->context . '', 'cpu(1)', 'the output stays on its device');
};

subtest 'pull' => sub {
    my $kv = pod_store();
    my $a = mx->nd->zeros($shape);
    $kv->pull(3, out => $a);
    all_equal($a, 2, 'pull a single key-value pair');

    my $b = [map { mx->nd->ones($shape, $_) } @$devs];
    $kv->pull(3, out => $b);
    all_equal($b->[$_], 2, "pull into multiple devices: device $_") for 0 .. 3;

    $kv->push($keys, [map { mx->nd->ones($shape) * 2 } @$keys]);
    $b = [map { mx->nd->zeros($shape) } 0 .. @$keys - 1];
    $kv->pull($keys, out => $b);
    all_equal($b->[1], 2, 'pull a list of key-value pairs, single device');

    $b = [map { [map { mx->nd->ones($shape, ctx => $_) } @$devs] } 0 .. @$keys - 1];
    $kv->pull($keys, out => $b);
    all_equal($b->[1][1], 2, 'pull a list of key-value pairs, multiple devices');
    all_equal($b->[2][3], 2, 'every output is filled');
};

subtest '_set_updater' => sub {
    my $kv = pod_store();
    my $a = mx->nd->zeros($shape);
    $kv->push(3, [map { mx->nd->ones($shape, ctx => $_) } @$devs]);   # the POD's store holds 4 here
    my @updated;
    my $update = sub {
        my ($key, $input, $stored) = @_;
        push @updated, $key;
        $stored += $input * 2;
    };
    $kv->_set_updater($update);
    $kv->pull(3, out => $a);
    all_equal($a, 4, 'before the push');
    $kv->push(3, mx->nd->ones($shape));
    $kv->pull(3, out => $a);
    all_equal($a, 6, '$stored += $input * 2');
    is_deeply(\@updated, [0], 'the updater receives the internal index of key 3 (0), as in MXNet');
    $kv->push([9, 5], [mx->nd->ones($shape), mx->nd->ones($shape)]);
    is_deeply(\@updated, [0, 1, 3], 'keys 5 and 9 are indices 1 and 3, called in ascending order');
};

subtest 'set_optimizer with the default SGD' => sub {
    my $kv = mx->kv->create;
    my $weight = mx->nd->zeros([2, 2]);
    $kv->init(3, $weight);
    $kv->set_optimizer(mx->optimizer->SGD());
    $kv->push(3, mx->nd->ones([2, 2]));
    $kv->pull(3, out => $weight);
    all_close($weight, [(-0.01) x 4], 'weight is updated via gradient descent');
};

subtest 'type, rank, num_workers' => sub {
    my $kv = mx->kv->create('local');
    is($kv->type, 'local', 'type');
    is($kv->rank, 0, 'rank');
    is($kv->num_workers, 1, 'num_workers');
    is(mx->kv->create->type, 'local', "create() defaults to 'local'");
    is(mx->kv->create('Device')->type, 'device', 'type is the lower-cased name');
};

# A local store runs a plain SGD natively (states in the library, saved as .params); with a
# scheduler the optimizer runs in a Perl updater (states saved with Storable). Both resume alike.
for my $kind ('native', 'Perl updater') {
    subtest "save_optimizer_states and load_optimizer_states ($kind)" => sub {
        my $dir = tempdir(CLEANUP => 1);
        my $grad1 = mx->nd->array([[1, -2, 3], [0.5, 0, -1]]);
        my $grad2 = mx->nd->array([[2, 1, 0], [-3, 4, 1]]);
        my $sgd = sub {
            mx->optimizer->SGD(learning_rate => 0.1, momentum => 0.9, wd => 0.01,
                ($kind eq 'native' ? () : (lr_scheduler => AI::MXNet::FactorScheduler->new(step => 100))), @_);
        };

        # One run: push, save the states, push again.
        my $kv = mx->kv->create('local');
        $kv->init('w', mx->nd->ones($shape));
        $kv->set_optimizer($sgd->());
        is(!!$kv->_native_optimizer, $kind eq 'native', "the store runs the optimizer: $kind");
        $kv->push('w', $grad1);
        my $after_first = mx->nd->zeros($shape);
        $kv->pull('w', out => $after_first);
        $kv->save_optimizer_states("$dir/states");
        ok(-s "$dir/states", 'the states file is written');
        $kv->push('w', $grad2);
        my $expected = mx->nd->zeros($shape);
        $kv->pull('w', out => $expected);

        # A new store resumes from the saved states and gets the same second step.
        my $resume = sub {
            my ($optimizer, $load) = @_;
            my $kv2 = mx->kv->create('local');
            $kv2->init('w', $after_first);
            $kv2->set_optimizer($optimizer);
            $load->($kv2) if $load;
            $kv2->push('w', $grad2);
            my $w = mx->nd->zeros($shape);
            $kv2->pull('w', out => $w);
            return $w;
        };
        my $resumed = $resume->($sgd->(), sub { $_[0]->load_optimizer_states("$dir/states") });
        all_close($resumed, $expected->aspdl, 'loading the states restores the momentum');
        my $fresh = $resume->($sgd->());
        my $diff = ($fresh - $expected)->aspdl->abs->max;
        cmp_ok($diff, '>', 1e-3, 'without them the step differs (the test can fail)');

        if ($kind eq 'native') {
            my %saved = mx->nd->load("$dir/states")->%*;
            is_deeply([sort keys %saved], ['0:count', '0:momentum', 'num_update'],
                'the file holds MXNet-style named arrays');
            dies_like(sub { $kv->save_optimizer_states("$dir/x", dump_optimizer => 1) },
                qr/dump_optimizer => 1 needs a Perl updater/, 'a native optimizer is not dumped');
            return;
        }
        $kv->save_optimizer_states("$dir/with-optimizer", dump_optimizer => 1);
        my $other = mx->kv->create('local');
        $other->init('w', mx->nd->zeros($shape));
        $other->set_optimizer($sgd->(learning_rate => 5));
        $other->load_optimizer_states("$dir/with-optimizer");
        is($other->_updater->optimizer->learning_rate, 0.1, 'dump_optimizer => 1 also restores the optimizer');
        is($other->_updater->optimizer->momentum, 0.9, 'with its momentum');
    };
}

subtest 'no optimizer, no states' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $plain = mx->kv->create('local');
    dies_like(sub { $plain->save_optimizer_states("$dir/x") }, qr/Cannot save states/,
        'a store without an optimizer has no states to save');
    dies_like(sub { $plain->load_optimizer_states("$dir/x") }, qr/Cannot load states/, 'nor to load');
};

subtest 'set_gradient_compression' => sub {
    my $kv = mx->kv->create('local');
    dies_like(sub { $kv->set_gradient_compression({ type => '2bit' }) },
        qr/Gradient compression is not supported for this type of kvstore/, 'refused on a local store');
    my $dev = mx->kv->create('device');
    ok(eval { $dev->set_gradient_compression({ type => '2bit', threshold => 0.5 }); 1 },
        'accepted on a device store') or diag($@);
    dies_like(sub { $dev->set_gradient_compression({ type => '2bit', threshold => 0 }) },
        qr/threshold must be greater than 0/, 'with the library\'s parameter checks');
};

done_testing;
