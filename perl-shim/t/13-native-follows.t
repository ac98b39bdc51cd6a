# An optimizer a store runs natively (set_optimizer on a local store) follows a later
# set_learning_rate, or a new value of any argument it gave the store (wd, rescale_grad,
# momentum, …): the store installs it again with its states and update counts, so that its
# steps are those of a Perl updater given the same changes. What a native optimizer cannot
# carry (a scheduler, per-parameter multipliers) is refused with a message, not ignored.
use strict;
use warnings;
use Test::More;
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

srand(11);
my $shape = [3, 4];
sub random_pdl { PDL->pdl([map { [map { rand(4) - 2 } 1 .. $shape->[1]] } 1 .. $shape->[0]]) }

sub pulled
{
    my ($kv, $key) = @_;
    my $out = mx->nd->zeros($shape);
    $kv->pull($key, out => $out);
    return [values_of($out)];
}

# Each optimizer, and an argument of its own that changes too.
my %optimizers = (
    'SGD with momentum' => [sub { mx->optimizer->SGD(learning_rate => 0.1, momentum => 0.9) }, momentum => 0.5],
    # Adam's bias correction reads the update count: a count lost in the new install shows.
    'Adam'              => [sub { mx->optimizer->Adam(learning_rate => 0.1, wd => 0.01) }, beta1 => 0.8],
);
for my $name (sort keys %optimizers) {
    my ($make, $own, $value) = @{ $optimizers{$name} };
    subtest "$name follows set_learning_rate and its arguments with its states and counts" => sub {
        my ($opt_native, $opt_perl) = map { $make->() } 1 .. 2;
        # Two stores run the one optimizer natively; both follow it.
        my @native = map { mx->kv->create('local') } 1 .. 2;
        my $perl = mx->kv->create('local');
        my $w0 = random_pdl();
        $_->init(0, mx->nd->array($w0)) for @native, $perl;
        $_->set_optimizer($opt_native) for @native;
        ok($_->_native_optimizer, 'the store runs it natively') for @native;
        $perl->_set_updater(AI::MXNet::Optimizer->get_updater($opt_perl));
        for my $step (0 .. 3) {
            $_->set_learning_rate(0.01) for $step == 1 ? ($opt_native, $opt_perl) : ();
            for my $opt ($step == 2 ? ($opt_native, $opt_perl) : ()) {
                $opt->wd(0.05);
                $opt->rescale_grad(0.5);
                $opt->$own($value);
            }
            $_->lr(0.5) for $step == 3 ? ($opt_native, $opt_perl) : ();
            my $g = random_pdl();
            $_->push(0, mx->nd->array($g)) for @native, $perl;
        }
        my $want = pulled($perl, 0);
        is_deeply(pulled($_, 0), $want, 'the weight is the Perl updater\'s, bit for bit') for @native;
    };
}

subtest 'a store that no longer runs the optimizer is left alone' => sub {
    my $opt = mx->optimizer->SGD(learning_rate => 1);
    my $kv = mx->kv->create('local');
    $kv->init(0, mx->nd->zeros($shape));
    $kv->set_optimizer($opt);
    $kv->_set_updater(undef);
    $opt->set_learning_rate(2);
    $kv->push(0, mx->nd->ones($shape));
    all_equal(do { my $o = mx->nd->zeros($shape); $kv->pull(0, out => $o); $o }, 1,
        'a push without updater assigns');
    ok(!$kv->_native_optimizer, 'and the optimizer was not installed again');
};

subtest 'what a native optimizer cannot carry is refused' => sub {
    my $opt = mx->optimizer->SGD(learning_rate => 0.1);
    my $kv = mx->kv->create('local');
    $kv->init(0, mx->nd->zeros($shape));
    $kv->set_optimizer($opt);
    dies_like(sub { $opt->set_lr_mult({ 0 => 0.5 }) }, qr/set_lr_mult: this optimizer runs natively/,
        'set_lr_mult');
    dies_like(sub { $opt->set_wd_mult({ 0 => 0.5 }) }, qr/set_wd_mult: this optimizer runs natively/,
        'set_wd_mult');
    dies_like(sub { $opt->lr_mult({ 0 => 0.5 }) }, qr/lr_mult: this optimizer runs natively/,
        'lr_mult set directly');
    dies_like(sub { $opt->wd_mult({ 0 => 0.5 }) }, qr/wd_mult: this optimizer runs natively/,
        'wd_mult set directly');
    dies_like(sub { $opt->lr_scheduler(AI::MXNet::FactorScheduler->new(step => 1)) },
        qr/lr_scheduler: this optimizer runs natively/, 'a scheduler');
    is_deeply([$opt->lr_mult, $opt->wd_mult, $opt->lr_scheduler], [{}, {}, undef], 'nothing changed');
    $kv->push(0, mx->nd->ones($shape));
    all_close(do { my $o = mx->nd->zeros($shape); $kv->pull(0, out => $o); $o }, [(-0.1) x 12],
        'the store still runs it');
    # Before set_optimizer, they make the store run the optimizer through a Perl updater.
    my $fresh = mx->optimizer->SGD(learning_rate => 0.1);
    $fresh->set_lr_mult({ 0 => 0.5 });
    my $other = mx->kv->create('local');
    $other->init(0, mx->nd->zeros($shape));
    $other->set_optimizer($fresh);
    ok(!$other->_native_optimizer, 'multipliers set before: a Perl updater');
};

done_testing;
