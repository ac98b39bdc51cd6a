# AI::MXNet::Optimizer against MXNet 1.9.1: every optimizer's weight and states after three
# updates (t/fixtures/optimizers.params, written by t/fixtures/make_optimizer_fixtures.py with the
# real MXNet), through an updater and through a store; multi_precision; states saved and loaded;
# schedulers and multipliers; bad arguments.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

my $fixtures = "$FindBin::Bin/fixtures";
my %saved = %{ mx->nd->load("$fixtures/optimizers.params") };
my @cases;
open(my $fh, '<', "$fixtures/optimizers.txt") or die "optimizers.txt: $!";
while (<$fh>) {
    my ($case, $name, $dtype, $n_states, @args) = split;
    push @cases, { case => $case, name => $name, dtype => $dtype, n_states => $n_states,
                   args => { map { split /=/, $_, 2 } @args } };
}
close($fh);
cmp_ok(scalar(@cases), '>=', 18, 'every optimizer has a case');

# The comparison: float32 and float64 results agree with MXNet's to 2 units in the last place,
# float16 ones to one float16 ulp. Most are bit for bit; the exceptions are AI::MXNet's own
# calls: its SGD without momentum calls sgd_update where MXNet's Python SGD calls
# multi_sgd_update (another order of operations, one ulp apart), LAMB's norms are summed in
# double, and AI::MXNet passes scalars as Perl prints them (15 digits).
sub ulps
{
    my ($got, $want) = @_;
    my $type = $want->type->realctype;
    my $g = $got->double->flat;
    my $w = $want->double->flat;
    my $ulp = PDL::abs($w) * ($type eq 'double' ? 2**-52 : 2**-23);
    $ulp = PDL::Core::pdl(PDL::double(), [map { $_ < 1.2e-38 ? 1.4e-45 : $_ } $ulp->list]);
    return PDL::max(PDL::abs($g - $w) / $ulp);
}

sub agrees
{
    my ($got, $want, $dtype, $name) = @_;
    my ($g, $w) = ($got->aspdl, $want->aspdl);
    if ($dtype eq 'float16') {
        # float16 values shown as float: one float16 ulp is 2^-10 of the value's binade.
        my $tol = PDL::abs($w->double) * 2**-10 + 2**-24;
        ok(PDL::all(PDL::abs($g->double - $w->double) <= $tol), $name)
            or diag("got $g\nwant $w");
        return;
    }
    my $d = ulps($g, $w);
    ok($d <= 2, $name) or diag("$d ulps apart\ngot $g\nwant $w");
}

sub flat_states
{
    my $state = shift;
    return () unless defined $state;
    return map { flat_states($_) } @$state if ref $state eq 'ARRAY';
    return ($state);
}

sub optimizer_of { my $c = shift; AI::MXNet::Optimizer->create_optimizer($c->{name}, %{ $c->{args} }) }

for my $c (@cases) {
    my $case = $c->{case};
    subtest "$case through an updater" => sub {
        my $opt = optimizer_of($c);
        my $updater = AI::MXNet::Optimizer->get_updater($opt);
        my $weight = $saved{"$case:weight0"}->copy;
        is($weight->dtype, $c->{dtype}, "a $c->{dtype} weight");
        $updater->(0, $saved{"$case:grad$_"}, $weight) for 1 .. 3;
        agrees($weight, $saved{"$case:weight"}, $c->{dtype}, 'the weight is MXNet\'s');
        my @states = flat_states($updater->states->{0});
        is(scalar(@states), $c->{n_states}, "$c->{n_states} state arrays, in MXNet's order");
        for my $i (0 .. $#states) {
            my $want = $saved{"$case:state$i"};
            is($states[$i]->dtype, $want->dtype, "state $i is $c->{dtype} or float32 as MXNet's");
            agrees($states[$i], $want, $want->dtype, "state $i is MXNet's");
        }
    };
    subtest "$case through a store" => sub {
        my $kv = mx->kv->create('local');
        $kv->init(7, $saved{"$case:weight0"});
        $kv->set_optimizer(optimizer_of($c));
        is(!!$kv->_native_optimizer, $c->{name} ne 'nag', $c->{name} eq 'nag'
            ? 'AI::MXNet\'s NAG runs in a Perl updater' : 'the store runs it natively');
        $kv->push(7, $saved{"$case:grad$_"}) for 1 .. 3;
        my $out = mx->nd->zeros($saved{"$case:weight0"}->shape, dtype => $c->{dtype});
        $kv->pull(7, out => $out);
        agrees($out, $saved{"$case:weight"}, $c->{dtype}, 'the pulled weight is MXNet\'s');
    };
}

subtest 'multi_precision keeps a float32 master copy' => sub {
    my $w16 = mx->nd->array([[1, 2], [3, 4]], dtype => 'float16');
    my $sgd = mx->optimizer->SGD(learning_rate => 1e-4, momentum => 0.9, multi_precision => 1);
    my $state = $sgd->create_state(0, $w16);
    is(ref $state, 'ARRAY', 'the state is [momentum, weight32]');
    is($state->[0]->dtype, 'float32', 'momentum in float32');
    is($state->[1]->dtype, 'float32', 'the master weight in float32');
    # 1e-4 steps vanish in float16 near 1..4 but add up in the master copy.
    $sgd->update(0, $w16, mx->nd->ones([2, 2], dtype => 'float16'), $state) for 1 .. 20;
    ok($state->[1]->aspdl->at(0, 0) < 1 - 1e-3, 'the master copy moved');
    all_close($w16, [map { $_->sclr } $state->[1]->aspdl->flat->dog], 'the weight follows it', 1e-3);
    my $plain = mx->optimizer->SGD(learning_rate => 1e-4, momentum => 0.9);
    ok(!ref($plain->create_state(0, $w16)) || ref($plain->create_state(0, $w16)) ne 'ARRAY',
        'without multi_precision the state is one float16 array');
    is($plain->create_state(0, $w16)->dtype, 'float16', 'of the weight\'s dtype');
    my $adam = mx->optimizer->Adam(multi_precision => 1)->create_state(0, $w16);
    is_deeply([map { $_->dtype } $adam->[0], @{ $adam->[1] }], [qw(float32 float32 float32)],
        'other optimizers keep [weight32, states]');
};

subtest 'Updater states save and load' => sub {
    for my $name (qw(sgd adam rmsprop ftml nag)) {
        my %args = (learning_rate => 0.05, ($name =~ /sgd|nag/ ? (momentum => 0.9) : ()));
        my $grads = [map { mx->nd->array([[$_, -$_ / 2, 0.3]]) } 0.5, 1, -2];
        my $run = sub {
            my ($updater, $weight, @steps) = @_;
            $updater->(3, $grads->[$_], $weight) for @steps;
        };
        my $u1 = AI::MXNet::Optimizer->get_updater(mx->optimizer->create($name, %args));
        my $w1 = mx->nd->array([[1, 2, 3]]);
        $run->($u1, $w1, 0);
        my $bytes = $u1->get_states(1);
        my $w2 = $w1->copy;
        $run->($u1, $w1, 1, 2);
        my $u2 = AI::MXNet::Optimizer->get_updater(mx->optimizer->create($name, learning_rate => 9));
        $u2->set_states($bytes);
        is($u2->optimizer->learning_rate, 0.05, "$name: the dumped optimizer comes back");
        $run->($u2, $w2, 1, 2);
        all_close($w2, [values_of($w1)], "$name: resumed updates equal uninterrupted ones", 1e-6);
    }
};

subtest 'native store states: .params save and load' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $kv = mx->kv->create('local');
    $kv->init(['a', 'b'], [mx->nd->ones([2, 3]), mx->nd->ones([4])]);
    $kv->set_optimizer(mx->optimizer->Adam(learning_rate => 0.1));
    $kv->push(['a', 'b'], [mx->nd->ones([2, 3]), mx->nd->ones([4]) * 2]);
    $kv->save_optimizer_states("$dir/adam.params");
    my $names = mx->nd->load("$dir/adam.params");
    is_deeply([sort keys %$names], [qw(0:count 0:mean 0:var 1:count 1:mean 1:var num_update)],
        'per key mean, var and count, as named arrays');
    all_close($names->{'1:mean'}, [(0.2) x 4], 'the mean after one step: (1 - beta1) * grad', 1e-6);
    $kv->push('a', mx->nd->ones([2, 3]));
    $kv->load_optimizer_states("$dir/adam.params");
    my $again = mx->nd->load("$dir/adam.params");
    $kv->save_optimizer_states("$dir/again.params");
    all_close(mx->nd->load("$dir/again.params")->{'0:mean'}, $again->{'0:mean'}->aspdl,
        'loading puts the saved states back');
    open(my $bad, '>', "$dir/bad") or die;
    print {$bad} "not a params file";
    close($bad);
    dies_like(sub { $kv->load_optimizer_states("$dir/bad") }, qr/MXNetError/, 'a bad file is refused');
};

subtest 'learning-rate schedulers' => sub {
    my $f = AI::MXNet::FactorScheduler->new(step => 2, factor => 0.5, base_lr => 1);
    is_deeply([map { $f->($_) } 1, 3, 4, 6, 6, 7], [1, 1, 0.5, 0.25, 0.25, 0.25],
        'FactorScheduler halves the rate every 2 updates after the first');
    my $floor = AI::MXNet::FactorScheduler->new(step => 1, factor => 0.1, stop_factor_lr => 0.05, base_lr => 1);
    is($floor->(10), 0.05, 'not below stop_factor_lr');
    my $m = AI::MXNet::MultiFactorScheduler->new(step => [2, 4], factor => 0.1, base_lr => 1);
    is_deeply([map { sprintf('%.4g', $m->($_)) } 1, 2, 3, 4, 5, 9], [1, 1, 0.1, 0.1, 0.01, 0.01],
        'MultiFactorScheduler multiplies past each listed update');

    my $sgd = mx->optimizer->SGD(learning_rate => 1,
        lr_scheduler => AI::MXNet::FactorScheduler->new(step => 1, factor => 0.5));
    is($sgd->lr_scheduler->base_lr, 1, 'the optimizer gives the scheduler its learning rate');
    my $kv = mx->kv->create('local');
    $kv->init(0, mx->nd->zeros([1]));
    $kv->set_optimizer($sgd);
    ok(!$kv->_native_optimizer, 'a scheduled optimizer runs in a Perl updater');
    my @w;
    for (1 .. 4) {
        $kv->push(0, mx->nd->ones([1]));
        my $out = mx->nd->zeros([1]);
        $kv->pull(0, out => $out);
        push @w, $out->asscalar;
    }
    all_close(mx->nd->array(\@w), [-1, -2, -2.5, -2.75], 'steps of 1, 1, 0.5, 0.25');
    dies_like(sub { AI::MXNet::FactorScheduler->new(step => 0) }, qr/step must be greater or equal than 1/,
        'a step below 1');
    dies_like(sub { AI::MXNet::FactorScheduler->new(step => 1, factor => 2) }, qr/Factor must be no more than 1/,
        'a factor above 1');
    dies_like(sub { AI::MXNet::MultiFactorScheduler->new(step => [3, 2]) }, qr/increasing integer list/,
        'steps that do not increase');
    dies_like(sub { $sgd->set_learning_rate(0.1) }, qr/has an lr_scheduler/, 'set_learning_rate with a scheduler');
};

subtest 'lr_mult, wd_mult and idx2name' => sub {
    my $opt = mx->optimizer->SGD(learning_rate => 0.5, wd => 0.1,
        param_idx2name => { 0 => 'fc1_weight', 1 => 'fc1_bias', 2 => 'bn_gamma' });
    is_deeply($opt->wd_mult, { fc1_bias => 0 }, 'named parameters other than weights and gammas get no wd');
    $opt->set_lr_mult({ fc1_weight => 0, 2 => 0.5 });
    is($opt->_get_lr(0), 0, 'lr_mult by name');
    is($opt->_get_lr(2), 0.25, 'lr_mult by index');
    is($opt->_get_lr(5), 0.5, 'other indices keep the rate');
    is($opt->_get_wd(1), 0, 'no wd for a bias');
    is($opt->_get_wd(0), 0.1, 'wd for a weight');
    $opt->set_wd_mult({ 0 => 3 });
    is($opt->_get_wd(0), 0.30000000000000004, 'wd_mult by index');

    my $kv = mx->kv->create('local');
    $kv->init([0, 1], [mx->nd->ones([2]), mx->nd->ones([2])]);
    $kv->set_optimizer(mx->optimizer->SGD(learning_rate => 0.5, param_idx2name => { 0 => 'frozen_weight', 1 => 'b' }));
    $kv->_updater->optimizer->set_lr_mult({ frozen_weight => 0 });
    $kv->push([0, 1], [mx->nd->ones([2]), mx->nd->ones([2])]);
    my ($a, $b) = (mx->nd->zeros([2]), mx->nd->zeros([2]));
    $kv->pull([0, 1], out => [$a, $b]);
    all_close($a, [1, 1], 'lr_mult 0 leaves a parameter as it was');
    all_close($b, [0.5, 0.5], 'the others move');
};

subtest 'row_sparse gradients update their rows' => sub {
    my $weight = mx->nd->ones([4, 2]);
    my $grad = mx->nd->sparse->row_sparse_array([[[1, 1], [2, 2]], [1, 3]], shape => [4, 2]);
    my $sgd = mx->optimizer->SGD(learning_rate => 0.5, momentum => 0.9, wd => 0.1);
    my $mom = $sgd->create_state(0, $weight);
    $sgd->update(0, $weight, $grad, $mom);
    all_close($weight, [1, 1, 0.45, 0.45, 1, 1, -0.05, -0.05], 'lazy_update: rows 0 and 2 keep their values and skip wd');
    my $std = mx->optimizer->SGD(learning_rate => 0.5, wd => 0.1, lazy_update => 0);
    my $w2 = mx->nd->ones([4, 2]);
    $std->update(0, $w2, $grad, undef);
    all_close($w2, [0.95, 0.95, 0.45, 0.45, 0.95, 0.95, -0.05, -0.05], 'lazy_update => 0: every row decays');

    my $rsp = mx->nd->sparse->row_sparse_array([[[1, 1], [1, 1], [1, 1], [1, 1]], [0, 1, 2, 3]], shape => [4, 2]);
    my $ftrl = mx->optimizer->Ftrl;
    my $z_n = $ftrl->create_state(0, $rsp);
    is_deeply([map { $_->stype } @$z_n], ['row_sparse', 'row_sparse'], 'Ftrl\'s states follow a row_sparse weight');
    $ftrl->update(0, $rsp, $grad, $z_n);
    my @rows = map { [values_of($rsp->tostype('default')->at($_))] } 0 .. 3;
    is_deeply([@rows[0, 2]], [[1, 1], [1, 1]], 'rows the gradient does not hold keep their values');
    ok($rows[1][0] != 1 && $rows[3][0] != 1, 'its rows are updated');
    dies_like(sub { mx->optimizer->AdaGrad(wd => 0.1)->update(0, mx->nd->ones([4, 2]), $grad, mx->nd->zeros([4, 2])) },
        qr/MXNetError: .*does not support wd/, 'AdaGrad with a row_sparse gradient refuses wd, as MXNet');
};

subtest 'bad arguments croak, nothing changed' => sub {
    dies_like(sub { AI::MXNet::Optimizer->create_optimizer('adamw') },
        qr/Cannot find optimizer adamw \(known: .*sgd/, 'an unknown name, with the known ones');
    dies_like(sub { AI::MXNet::Optimizer->create_optimizer(undef) }, qr/name of an optimizer is required/,
        'no name');
    dies_like(sub { mx->optimizer->Adam(beta1 => 'high') }, qr/beta1/, 'an argument of the wrong type');
    dies_like(sub { mx->optimizer->SGD(momentun => 0.9) },
        qr/AI::MXNet::SGD: unknown argument\(s\) momentun \(known: .*momentum/, 'a misspelt argument');
    dies_like(sub { AI::MXNet::Optimizer->create_optimizer('nadam', schedule => 1) },
        qr/AI::MXNet::Nadam: unknown argument\(s\) schedule/, 'one that another optimizer has');
    dies_like(sub { mx->optimizer->SGD->set_lr_mult([1]) }, qr/hash ref of multipliers/, 'multipliers not in a hash');
    my $sgd = mx->optimizer->SGD(learning_rate => 0.1, momentum => 0.9);
    my $w = mx->nd->ones([2, 2]);
    my $state = $sgd->create_state(0, $w);
    dies_like(sub { $sgd->update(0, $w, mx->nd->ones([3]), $state) }, qr/the weight has shape \[2 2\] and the gradient \[3\]/,
        'a gradient of another shape');
    dies_like(sub { $sgd->update(0, $w, 'grad', $state) }, qr/the grad must be an AI::MXNet::NDArray/,
        'a gradient that is no NDArray');
    my $ints = mx->nd->ones([2, 2], dtype => 'int32');
    dies_like(sub { $sgd->update(0, $ints, mx->nd->ones([2, 2], dtype => 'int32'), undef) },
        qr/MXNetError: .*weight has dtype int32/, 'an int32 weight: the library names the dtype');
    dies_like(sub { $sgd->update(0, $w, mx->nd->ones([2, 2], dtype => 'float64'), $state) },
        qr/MXNetError: .*grad has dtype float64, expected float32/, 'a gradient of another dtype');
    all_close($w, [1, 1, 1, 1], 'the weight is unchanged after the failures');
    all_close($state, [0, 0, 0, 0], 'and so is the momentum');
    dies_like(sub { AI::MXNet::Optimizer->get_updater('sgd') }, qr/expected an AI::MXNet::Optimizer/,
        'get_updater of a string');
    dies_like(sub { AI::MXNet::Optimizer->get_updater(mx->optimizer->SGD)->set_states('junk') },
        qr/not the states of an AI::MXNet::Updater/, 'set_states of junk');
    dies_like(sub { AI::MXNetCAPI::KVOptimizerUpdate('sgd_update', 2, [$w->handle], 0, [], []) },
        qr/num is 2 but arrays has 1 elements/, 'the XS binding checks its lists');
    my ($rc) = AI::MXNetCAPI::KVOptimizerUpdate('no_such_update', 1, [$w->handle], 0, [], []);
    is($rc, -1, 'an unknown operator fails');
    like(AI::MXNetCAPI::GetLastError(), qr/unknown update operator 'no_such_update'/, 'naming it');
};

done_testing;
