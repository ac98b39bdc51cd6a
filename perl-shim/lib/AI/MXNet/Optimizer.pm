package AI::MXNet::Optimizer;
use strict;
use warnings;
use Carp qw(confess);
use List::Util qw(max);
use AI::MXNet::NDArray;
use Mouse;

my %registry;

# AI::MXNet::SGD->register makes it known as create_optimizer('sgd') and mx->optimizer->SGD(...).
sub register
{
    my $class = shift;
    my ($name) = $class =~ /::(\w+)$/;
    {
        no strict 'refs';
        *{ __PACKAGE__ . "::$name" } = sub { shift; $class->new(@_) };
    }
    $registry{ lc $name } = $class;
}

sub create_optimizer
{
    my ($class, $name, %kwargs) = @_;
    my $opt_class = $registry{ lc $name } or confess("Cannot find optimizer $name");
    return $opt_class->new(%kwargs);
}
*create = \&create_optimizer;

has 'rescale_grad'        => (is => 'rw', isa => 'Num', default => 1);
has 'learning_rate'       => (is => 'rw', isa => 'Num', default => 0.01);
has 'lr'                  => (is => 'rw', isa => 'Num');
has 'wd'                  => (is => 'rw', isa => 'Num', default => 0);
has 'clip_gradient'       => (is => 'rw', isa => 'Maybe[Num]');
has 'lr_mult'             => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'wd_mult'             => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'num_update'          => (is => 'rw', isa => 'Int');
has 'begin_num_update'    => (is => 'rw', isa => 'Int', default => 0);
has '_index_update_count' => (is => 'rw', isa => 'HashRef', default => sub { +{} });
has 'param_idx2name'      => (is => 'rw', isa => 'HashRef[Str]', default => sub { +{} });
has 'idx2name'            => (is => 'rw', isa => 'HashRef[Str]');

sub BUILD
{
    my $self = shift;
    $self->lr($self->learning_rate);
    $self->num_update($self->begin_num_update);
    $self->idx2name({ %{ $self->param_idx2name } });
    $self->set_lr_mult({});
    $self->set_wd_mult({});
}

# Extra state of one weight (momentum...); undef when there is none.
sub create_state { undef }

sub update { confess(ref($_[0]) . ' does not implement update') }

sub set_lr_mult
{
    my ($self, $args_lr_mult) = @_;
    $self->lr_mult({ %$args_lr_mult });
}

# Weight decay applies to weights: names of biases and the like get a multiplier of 0.
sub set_wd_mult
{
    my ($self, $args_wd_mult) = @_;
    my %mult = map { $_ => 0 } grep { not /(?:_weight|_gamma)$/ } values %{ $self->idx2name };
    $self->wd_mult({ %mult, %$args_wd_mult });
}

sub _update_count
{
    my ($self, $index) = @_;
    my $count = $self->_index_update_count;
    $count->{$index} //= $self->begin_num_update;
    $count->{$index} += 1;
    $self->num_update(max($count->{$index}, $self->num_update));
}

sub _multiplier
{
    my ($self, $mult, $index) = @_;
    return $mult->{$index} if exists $mult->{$index};
    my $name = $self->idx2name->{$index};
    return defined $name ? $mult->{$name} // 1 : 1;
}

sub _get_lr { my ($self, $index) = @_; $self->lr * $self->_multiplier($self->lr_mult, $index) }
sub _get_wd { my ($self, $index) = @_; $self->wd * $self->_multiplier($self->wd_mult, $index) }

sub get_updater
{
    my ($class, $optimizer) = @_;
    return AI::MXNet::Updater->new(optimizer => $optimizer);
}

no Mouse;
__PACKAGE__->meta->make_immutable;

package AI::MXNet::SGD;
use strict;
use warnings;
use Mouse;
extends 'AI::MXNet::Optimizer';

has 'momentum' => (is => 'rw', isa => 'Num', default => 0);

sub create_state
{
    my ($self, $index, $weight) = @_;
    return undef unless $self->momentum;
    return AI::MXNet::NDArray->zeros($weight->shape, ctx => $weight->context, dtype => $weight->dtype);
}

# MXNet's sgd_update / sgd_mom_update, in one pass of C over the arrays:
#   step   = lr * (clip(rescale_grad * grad, clip_gradient) + wd * weight)
#   mom    = momentum * mom - step;  weight += mom       (with momentum)
#   weight -= step                                        (without)
sub update
{
    my ($self, $index, $weight, $grad, $state) = @_;
    my $lr = $self->_get_lr($index);
    my $wd = $self->_get_wd($index);
    $self->_update_count($index);
    AI::MXNet::NDArray::Kernel::sgd(
        $weight->handle, $grad->handle, defined $state ? $state->handle : undef,
        $lr, $wd, $self->rescale_grad, $self->clip_gradient // -1, $self->momentum,
    );
}

no Mouse;
__PACKAGE__->meta->make_immutable;
__PACKAGE__->register;

# The updater that set_optimizer installs in a store: keeps one state per key index.
package AI::MXNet::Updater;
use strict;
use warnings;
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
    return Storable::freeze($dump_optimizer ? [$self->states, $self->optimizer] : $self->states);
}

sub set_states
{
    my ($self, $bytes) = @_;
    my $states = Storable::thaw($bytes);
    if (ref $states eq 'ARRAY') {
        ($states, my $optimizer) = @$states;
        $self->optimizer($optimizer);
    }
    $self->states($states);
    $self->states_synced({ map { $_ => 0 } keys %$states });
}

no Mouse;
__PACKAGE__->meta->make_immutable(inline_constructor => 0);

1;

__END__

=head1 NAME

AI::MXNet::Optimizer - optimizers for AI::MXNet::KVStore::set_optimizer

=head1 SYNOPSIS

    my $sgd = mx->optimizer->SGD(
        learning_rate => 0.1, momentum => 0.9, wd => 1e-4,
        rescale_grad  => 1 / 32, clip_gradient => 5,
    );
    # or: AI::MXNet::Optimizer->create_optimizer('sgd', learning_rate => 0.1)
    $kv->set_optimizer($sgd);

    my $updater = AI::MXNet::Optimizer->get_updater($sgd);
    $updater->($index, $grad, $weight);          # what the store calls on each push
    my $bytes = $updater->get_states(1);         # states (and the optimizer)
    $updater->set_states($bytes);

=head1 DESCRIPTION

C<AI::MXNet::Optimizer> holds the settings every optimizer shares (C<learning_rate>, C<wd>,
C<rescale_grad>, C<clip_gradient>, per-index C<lr_mult>/C<wd_mult>, update counts).
C<AI::MXNet::SGD> is stochastic gradient descent with momentum and weight decay, computed as
MXNet's C<sgd_update> and C<sgd_mom_update> operators do. C<AI::MXNet::Updater> applies an
optimizer per key index and keeps the states, which C<get_states>/C<set_states> carry through
Storable.

=cut
