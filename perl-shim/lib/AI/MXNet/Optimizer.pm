package AI::MXNet::Optimizer;
use strict;
use warnings;
use Carp qw(confess);
use Hash::Util::FieldHash qw(fieldhash);
use List::Util qw(max);
use Scalar::Util qw(blessed refaddr weaken);
use AI::MXNetCAPI;
use AI::MXNet::Base qw(check_call);
use AI::MXNet::NDArray;
use AI::MXNet::LRScheduler;
use Mouse;

my %registry;

# AI::MXNet::Adam->register makes it known as create_optimizer('adam') and mx->optimizer->Adam(...);
# the class is complete then (made immutable).
sub register
{
    my $class = shift;
    _follow_native_arguments($class);
    $class->meta->make_immutable;
    my ($name) = $class =~ /::(\w+)$/;
    {
        no strict 'refs';
        no warnings 'redefine';
        *{ __PACKAGE__ . "::$name" } = sub { shift; $class->new(@_) };
    }
    warn("WARNING: New optimizer $class is overriding existing optimizer $registry{ lc $name }\n")
        if exists $registry{ lc $name } and $registry{ lc $name } ne $class;
    $registry{ lc $name } = $class;
}

sub get_opt_registry { \%registry }

sub create_optimizer
{
    my ($class, $name, %kwargs) = @_;
    confess('create_optimizer: the name of an optimizer is required') unless defined $name and not ref $name;
    my $opt_class = $registry{ lc $name }
        or confess("Cannot find optimizer $name (known: " . join(', ', sort keys %registry) . ')');
    return $opt_class->new(%kwargs);
}
*create = \&create_optimizer;

has 'rescale_grad'        => (is => 'rw', isa => 'Num', default => 1);
has 'learning_rate'       => (is => 'rw', isa => 'Num', default => 0.01);
has 'lr'                  => (is => 'rw', isa => 'Num');
has 'lr_scheduler'        => (is => 'rw', isa => 'Maybe[AI::MXNet::LRScheduler]');
has 'wd'                  => (is => 'rw', isa => 'Num', default => 0);
has 'clip_gradient'       => (is => 'rw', isa => 'Maybe[Num]');
has 'multi_precision'     => (is => 'ro', isa => 'Bool', default => 0);
has 'lr_mult'             => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'wd_mult'             => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'num_update'          => (is => 'rw', isa => 'Int');
has 'begin_num_update'    => (is => 'rw', isa => 'Int', default => 0);
has '_index_update_count' => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'param_idx2name'      => (is => 'rw', isa => 'HashRef[Str]', default => sub { +{} });
has 'idx2name'            => (is => 'rw', isa => 'HashRef[Str]');
has 'param_dict'          => (is => 'rw', isa => 'HashRef', default => sub { +{} });

sub BUILD
{
    my ($self, $args) = @_;
    # AI::MXNet's own classes refuse arguments they do not know (a misspelt momentum would
    # otherwise be dropped without a word); a subclass of the user's may take others.
    if (ref($self) =~ /^AI::MXNet::/) {
        my %known = map { defined $_->init_arg ? ($_->init_arg => 1) : () } $self->meta->get_all_attributes;
        my @unknown = sort grep { not $known{$_} } keys %$args;
        confess(ref($self) . ": unknown argument(s) @unknown (known: @{[ sort grep { !/^_/ } keys %known ]})")
            if @unknown;
    }
    $self->lr_scheduler->base_lr($self->learning_rate) if $self->lr_scheduler;
    $self->lr($self->learning_rate);
    $self->num_update($self->begin_num_update);
    $self->idx2name({ %{ $self->param_idx2name } });
    $self->set_lr_mult({});
    $self->set_wd_mult({});
}

# ---- stores running the optimizer natively ----------------------------------------------------
#
# A store that runs the optimizer natively (AI::MXNet::KVStore::set_optimizer) is noted here,
# weakly (the store holds the optimizer), and outside the object, so that a Storable image of
# the optimizer (sent to dist servers) holds no store.
fieldhash my %native_stores;

sub _runs_natively_in
{
    my ($self, $store) = @_;
    my $stores = $native_stores{$self} //= [];
    @$stores = grep { defined } @$stores;
    return if grep { refaddr($_) == refaddr($store) } @$stores;
    CORE::push(@$stores, $store);
    weaken($stores->[-1]);
}

# The stores that run this optimizer natively now (not those given another updater since).
sub _native_stores
{
    my $self = shift;
    return grep {
        defined and defined $_->_native_optimizer and refaddr($_->_native_optimizer) == refaddr($self)
    } @{ $native_stores{$self} // [] };
}

# Each store installs the optimizer again, its states and update counts kept.
sub _follow_natively { $_->_install_native_again for $_[0]->_native_stores }

# What the store's native optimizer cannot carry is refused rather than ignored.
sub _refuse_if_native
{
    my ($self, $what, $which) = @_;
    confess("$what: this optimizer runs natively in a store, which has no $which; "
        . 'give it before set_optimizer (the store then runs the optimizer through a Perl updater)')
        if $self->_native_stores;
}

before 'lr_scheduler' => sub {
    my ($self, @set) = @_;
    $self->_refuse_if_native('lr_scheduler', 'learning-rate scheduler') if @set;
};

for my $mult (qw(lr_mult wd_mult)) {
    before $mult => sub {
        my ($self, @set) = @_;
        $self->_refuse_if_native($mult, 'per-parameter multipliers')
            if @set and ref $set[0] eq 'HASH' and %{ $set[0] };
    };
}

sub set_lr_mult
{
    my ($self, $args_lr_mult) = @_;
    confess('set_lr_mult: expected a hash ref of multipliers') unless ref $args_lr_mult eq 'HASH';
    $self->_refuse_if_native('set_lr_mult', 'per-parameter multipliers');
    $self->lr_mult({ %$args_lr_mult });
}

# Weight decay applies to weights: named parameters other than *_weight and *_gamma get 0.
sub set_wd_mult
{
    my ($self, $args_wd_mult) = @_;
    confess('set_wd_mult: expected a hash ref of multipliers') unless ref $args_wd_mult eq 'HASH';
    $self->_refuse_if_native('set_wd_mult', 'per-parameter multipliers');
    my %mult = map { $_ => 0 } grep { not /(?:_weight|_gamma)$/ } values %{ $self->idx2name };
    $self->wd_mult({ %mult, %$args_wd_mult });
}

sub set_learning_rate
{
    my ($self, $lr) = @_;
    confess('set_learning_rate: the optimizer has an lr_scheduler, which sets the learning rate')
        if $self->lr_scheduler;
    $self->lr($lr);
}

# The update count of $index, and num_update (the largest count), one more.
sub _update_count
{
    my ($self, $index) = @_;
    my $count = $self->_index_update_count;
    $count->{$index} //= $self->begin_num_update;
    $count->{$index} += 1;
    $self->num_update(max($count->{$index}, $self->num_update));
    return $count->{$index};
}

sub _multiplier
{
    my ($self, $mult, $what, $index) = @_;
    return $self->param_dict->{$index}->$what if exists $self->param_dict->{$index};
    return $mult->{$index} if exists $mult->{$index};
    my $name = $self->idx2name->{$index};
    return defined $name ? $mult->{$name} // 1 : 1;
}

sub _get_lr
{
    my ($self, $index) = @_;
    my $lr = $self->lr_scheduler ? $self->lr_scheduler->($self->num_update) : $self->lr;
    return $lr * $self->_multiplier($self->lr_mult, 'lr_mult', $index);
}

sub _get_wd { my ($self, $index) = @_; $self->wd * $self->_multiplier($self->wd_mult, 'wd_mult', $index) }

# ---- states and updates -----------------------------------------------------------------------
#
# A class gives its states for a weight (`_zero_states`: how many arrays like the weight, or
# its own `create_state`) and one step (`_step($index, $weight, $grad, $state, $lr, $wd)`), which
# calls a native rule. The base class adds what every optimizer shares: the update count and
# the learning rate in AI::MXNet's order, and multi_precision for float16
# weights, whose state is then [weight32, state] and whose step runs on the float32 master copy
# (SGD, NAG and LAMB keep the master copy in their own layout and step).

sub _zero_states { 0 }

# A single state array is given bare, several (or a list of one, as RMSProp's) in an array ref.
sub _state_is_list { $_[0]->_zero_states > 1 }

# AI::MXNet's classes count the update before reading the learning rate (SGD, Signum, Ftrl) or
# after (the others); it matters to a scheduler.
sub _counts_first { 0 }

# The storage type of the states of a weight: as AI::MXNet's classes make them, since MXNet's
# operators choose their sparse path by it (row_sparse states with a row_sparse weight and
# gradient: the lazy update of the rows the gradient holds).
sub _state_stype { 'default' }

sub _own_master_copy { 0 }

sub _zeros_like
{
    my ($weight, $dtype, $stype) = @_;
    return AI::MXNet::NDArray->zeros($weight->shape, ctx => $weight->context, dtype => $dtype // $weight->dtype,
        stype => $stype // 'default');
}

sub _master_copy_for
{
    my ($self, $weight) = @_;
    return ($self->multi_precision and $weight->dtype eq 'float16');
}

sub _create_state_for
{
    my ($self, $index, $weight) = @_;
    my $n = $self->_zero_states;
    return undef if $n == 0;
    my $stype = $self->_state_stype($weight);
    return _zeros_like($weight, undef, $stype) unless $self->_state_is_list;
    return [map { _zeros_like($weight, undef, $stype) } 1 .. $n];
}

sub create_state
{
    my ($self, $index, $weight) = @_;
    _check_array('create_state', 'weight', $weight);
    if ($self->_master_copy_for($weight) and not $self->_own_master_copy) {
        my $master = $weight->astype('float32');
        return [$master, $self->_create_state_for($index, $master)];
    }
    return $self->_create_state_for($index, $weight);
}

sub update
{
    my ($self, $index, $weight, $grad, $state) = @_;
    _check_array('update', 'weight', $weight);
    _check_array('update', 'grad', $grad);
    confess("update: the weight has shape [@{ $weight->shape }] and the gradient [@{ $grad->shape }]")
        unless "@{ $weight->shape }" eq "@{ $grad->shape }";
    $self->_update_count($index) if $self->_counts_first;
    my ($lr, $wd) = ($self->_get_lr($index), $self->_get_wd($index));
    $self->_update_count($index) unless $self->_counts_first;
    if ($self->_master_copy_for($weight) and not $self->_own_master_copy) {
        my ($master, $inner) = @$state;
        $self->_step($index, $master, $grad->astype('float32'), $inner, $lr, $wd);
        $master->copyto($weight);
        return;
    }
    $self->_step($index, $weight, $grad, $state, $lr, $wd);
}

sub _check_array
{
    my ($what, $name, $x) = @_;
    confess("$what: the $name must be an AI::MXNet::NDArray")
        unless blessed($x) and $x->isa('AI::MXNet::NDArray');
}

# ---- the native rules ---------------------------------------------------------------------------

# Runs libmxkv's update operator $op in place on @$arrays (MXNet's input order) with %params given
# as AI::MXNet gives an operator its arguments: as Perl's strings of the values.
sub _native_update
{
    my ($op, $arrays, %params) = @_;
    my @keys = sort keys %params;
    check_call(AI::MXNetCAPI::KVOptimizerUpdate(
        $op, scalar(@$arrays), [map { $_->handle } @$arrays],
        scalar(@keys), \@keys, [map { "$params{$_}" } @keys],
    ));
}

# The clip_gradient argument of MXNet's operators: given only when it is true.
sub _clip_param
{
    my ($self, $name) = @_;
    return $self->clip_gradient ? ($name // 'clip_gradient' => $self->clip_gradient) : ();
}

# The gradient arguments of mxkv's operators for the optimizers AI::MXNet composes in Perl:
# a negative clip_gradient does not clip.
sub _composed_grad
{
    my ($self, $clip) = @_;
    return (rescale_grad => $self->rescale_grad, clip_gradient => $clip // -1);
}

# ---- the native updater of a store ------------------------------------------------------------

# The classes that MXKVStoreSetOptimizer runs in the store, by its names, with the constructor
# arguments each passes on besides the shared ones. Not NAG: the store's runs MXNet's operator,
# whose momentum is not AI::MXNet's.
my %NATIVE = (
    'AI::MXNet::SGD'      => [sgd      => qw(momentum lazy_update)],
    'AI::MXNet::Signum'   => [signum   => qw(momentum wd_lh)],
    'AI::MXNet::Test'     => ['test'],
    'AI::MXNet::Adam'     => [adam     => qw(beta1 beta2 epsilon lazy_update)],
    'AI::MXNet::Adamax'   => [adamax   => qw(beta1 beta2)],
    'AI::MXNet::Nadam'    => [nadam    => qw(beta1 beta2 epsilon schedule_decay)],
    'AI::MXNet::LAMB'     => [lamb     => qw(beta1 beta2 epsilon lower_bound upper_bound bias_correction)],
    'AI::MXNet::RMSProp'  => [rmsprop  => qw(gamma1 gamma2 epsilon centered clip_weights)],
    'AI::MXNet::AdaGrad'  => [adagrad  => qw(eps)],
    'AI::MXNet::AdaDelta' => [adadelta => qw(rho epsilon)],
    'AI::MXNet::Ftrl'     => [ftrl     => qw(lamda1 beta)],
    'AI::MXNet::FTML'     => [ftml     => qw(beta1 beta2 epsilon)],
);

# A store running an optimizer of $class natively was given these arguments: a new value of one
# (set_learning_rate, or an accessor) reaches it.
sub _follow_native_arguments
{
    my $class = shift;
    my $native = $NATIVE{$class} or return;
    my (undef, @own) = @$native;
    for my $attr (qw(lr wd rescale_grad clip_gradient), @own) {
        $class->meta->add_after_method_modifier($attr => sub { $_[0]->_follow_natively if @_ > 1 });
    }
}

# (name, \@keys, \@values) for MXKVStoreSetOptimizer, or nothing when the optimizer needs the
# Perl updater: a class of its own, a scheduler, multipliers, updates already counted, or a
# clip_gradient of 0 (which AI::MXNet's classes do not all read alike).
sub _native_form
{
    my $self = shift;
    my $native = $NATIVE{ ref $self } or return;
    my ($name, @own) = @$native;
    return if $self->lr_scheduler or %{ $self->lr_mult } or %{ $self->wd_mult } or %{ $self->param_dict }
        or %{ $self->_index_update_count } or (defined $self->clip_gradient and $self->clip_gradient == 0);
    my %args = (learning_rate => $self->lr, wd => $self->wd, rescale_grad => $self->rescale_grad,
                multi_precision => $self->multi_precision, begin_num_update => $self->num_update,
                clip_gradient => $self->clip_gradient, map { $_ => $self->$_ } @own);
    my @keys = sort grep { defined $args{$_} } keys %args;
    return ($name, \@keys, [map { $args{$_} eq '' ? 0 : "$args{$_}" } @keys]);
}

no Mouse;
__PACKAGE__->meta->make_immutable;

# The updater that set_optimizer installs in a store: keeps one state per key index.
package AI::MXNet::Updater;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util qw(blessed);
use Storable ();
use Mouse;
use overload
    '&{}'    => sub { my $self = shift; sub { $self->call(@_) } },
    fallback => 1;

has 'optimizer'     => (is => 'rw', isa => 'AI::MXNet::Optimizer');
has 'states'        => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'states_synced' => (is => 'rw', isa => 'HashRef', default => sub { +{} });

sub call
{
    my ($self, $index, $grad, $weight) = @_;
    my $states = $self->states;
    if (not exists $states->{$index}) {
        $states->{$index} = $self->optimizer->create_state($index, $weight);
        $self->states_synced->{$index} = 1;
    }
    elsif (not $self->states_synced->{$index}) {
        $states->{$index} = $self->sync_state_context($states->{$index}, $weight->context);
        $self->states_synced->{$index} = 1;
    }
    $self->optimizer->update($index, $weight, $grad, $states->{$index});
}
*slice = \&call;

sub sync_state_context
{
    my ($self, $state, $context) = @_;
    return $state->as_in_context($context) if blessed $state;
    return [map { $self->sync_state_context($_, $context) } @$state] if ref $state eq 'ARRAY';
    return $state;
}

# A Storable image of the states, with the optimizer too when $dump_optimizer is true.
sub get_states
{
    my ($self, $dump_optimizer) = @_;
    return Storable::freeze($self->states) unless $dump_optimizer;
    my $param_dict = $self->optimizer->param_dict;
    $self->optimizer->param_dict({});
    my $frozen = Storable::freeze([$self->states, $self->optimizer]);
    $self->optimizer->param_dict($param_dict);
    return $frozen;
}

sub set_states
{
    my ($self, $bytes) = @_;
    my $states = eval { Storable::thaw($bytes) };
    confess('set_states: not the states of an AI::MXNet::Updater (get_states gives them)')
        unless ref $states eq 'HASH' or ref $states eq 'ARRAY';
    if (ref $states eq 'ARRAY') {
        ($states, my $optimizer) = @$states;
        $self->optimizer($optimizer);
    }
    $self->states($states);
    $self->states_synced({ map { $_ => 0 } keys %$states });
}

no Mouse;
__PACKAGE__->meta->make_immutable(inline_constructor => 0);

package AI::MXNet::Optimizer;

sub get_updater
{
    my ($class, $optimizer) = @_;
    confess('get_updater: expected an AI::MXNet::Optimizer')
        unless blessed($optimizer) and $optimizer->isa('AI::MXNet::Optimizer');
    return AI::MXNet::Updater->new(optimizer => $optimizer);
}

require AI::MXNet::Optimizer::SGD;
require AI::MXNet::Optimizer::Adaptive;

1;

__END__

=head1 NAME

AI::MXNet::Optimizer - AI::MXNet's optimizers, computing through libmxkv's native update rules

=head1 SYNOPSIS

    my $sgd = mx->optimizer->SGD(
        learning_rate => 0.1, momentum => 0.9, wd => 1e-4,
        rescale_grad  => 1 / 32, clip_gradient => 5,
    );
    my $adam = AI::MXNet::Optimizer->create_optimizer('adam', learning_rate => 0.001);
    $kv->set_optimizer($adam);

    my $updater = AI::MXNet::Optimizer->get_updater($sgd);
    $updater->($index, $grad, $weight);          # what a store calls on each push
    my $bytes = $updater->get_states(1);         # states (and the optimizer)
    $updater->set_states($bytes);

    my $scheduled = mx->optimizer->SGD(
        learning_rate => 0.1,
        lr_scheduler  => AI::MXNet::FactorScheduler->new(step => 100, factor => 0.5),
    );

=head1 DESCRIPTION

C<AI::MXNet::Optimizer> holds what every optimizer shares: C<learning_rate> (or an
C<lr_scheduler>), C<wd>, C<rescale_grad>, C<clip_gradient>, C<multi_precision>,
C<begin_num_update>, per-parameter C<lr_mult>/C<wd_mult> by index or by name
(C<param_idx2name>; named parameters other than C<*_weight>/C<*_gamma> get no weight decay),
and the update counts. The classes are AI::MXNet's, with its constructor arguments and
defaults: C<SGD> (C<momentum>, C<lazy_update>), C<NAG>, C<Signum> (C<momentum>, C<wd_lh>),
C<Test>, C<Adam> (C<beta1>, C<beta2>, C<epsilon>, C<lazy_update>), C<Adamax>, C<Nadam>
(C<schedule_decay>), C<LAMB> (C<lower_bound>, C<upper_bound>, C<bias_correction>),
C<RMSProp> (C<gamma1>, C<gamma2>, C<centered>, C<clip_weights>), C<AdaGrad> (C<eps>),
C<AdaDelta> (C<rho>, C<epsilon>), C<Ftrl> (C<lamda1>, C<beta>) and C<FTML>.

Every step runs in libmxkv through C<MXKVOptimizerUpdate>: MXNet's update operators
(C<sgd_mom_update>, C<adam_update>, ...) with the arguments AI::MXNet gives them, and mxkv's
operators for the optimizers AI::MXNet composes from NDArray arithmetic (AdaGrad, AdaDelta,
Adamax, Nadam, and NAG, whose momentum AI::MXNet keeps in gradient units where MXNet's
C<nag_mom_update> scales it by C<-lr>). C<< $kv->set_optimizer >> on a local store runs a
built-in optimizer without scheduler or multipliers in the library itself
(C<MXKVStoreSetOptimizer>, states in the store); see L<AI::MXNet::KVStore>.

With C<multi_precision> a float16 weight is updated through a float32 master copy: SGD's state
is C<[momentum, weight32]> (MXNet's layout; C<momentum> is undef without momentum), the
others' C<[weight32, state]>.

Row_sparse arrays go to the library as they are, which takes MXNet's sparse paths: states
are made in the weight's storage type as AI::MXNet makes them (SGD's and Adam's with
C<lazy_update>, AdaGrad's, Ftrl's, RMSProp's, Signum's), so a row_sparse gradient of a
row_sparse weight updates only the rows it holds (C<lazy_update =E<gt> 0>: every row), as
does AdaGrad's for any weight.

C<AI::MXNet::Updater> applies an optimizer per key index and keeps the states;
C<get_states>/C<set_states> carry them through Storable, with the optimizer when asked.

=cut
