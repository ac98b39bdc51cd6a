package AI::MXNet::Context;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util ();
use Mouse;
use overload
    '""' => \&stringify,
    '==' => \&equals,
    '!=' => sub { !equals(@_) },
    'eq' => \&equals,
    'ne' => sub { !equals(@_) };

# dev_type codes of reference §2.1.
use constant devtype2str => { 1 => 'cpu', 2 => 'gpu', 3 => 'cpu_pinned', 5 => 'cpu_shared' };
use constant devstr2type => { cpu => 1, gpu => 2, cpu_pinned => 3, cpu_shared => 5 };

has 'device_type' => (is => 'ro', isa => 'Str', default => 'cpu');
has 'device_id'   => (is => 'ro', isa => 'Int', default => 0);

sub BUILD
{
    my $self = shift;
    confess("unknown device type '${\ $self->device_type }'")
        unless exists devstr2type->{ $self->device_type };
}

sub device_type_id { devstr2type->{ $_[0]->device_type } }

sub cpu        { $_[0]->new(device_type => 'cpu',        device_id => $_[1] // 0) }
sub gpu        { $_[0]->new(device_type => 'gpu',        device_id => $_[1] // 0) }
sub cpu_pinned { $_[0]->new(device_type => 'cpu_pinned', device_id => $_[1] // 0) }
sub cpu_shared { $_[0]->new(device_type => 'cpu_shared', device_id => $_[1] // 0) }

# The number of GPUs mxkv can use: none.
sub num_gpus { 0 }

my $current;
sub current_ctx { $current //= __PACKAGE__->cpu(0) }

sub stringify { my $self = shift; sprintf('%s(%d)', $self->device_type, $self->device_id) }

sub equals
{
    my ($self, $other) = @_;
    return 0 unless Scalar::Util::blessed($other) and $other->isa(__PACKAGE__);
    return $self->device_type eq $other->device_type && $self->device_id == $other->device_id;
}

no Mouse;
__PACKAGE__->meta->make_immutable;

1;

__END__

=head1 NAME

AI::MXNet::Context - where an NDArray lives: C<cpu(i)>, C<cpu_pinned(i)>, C<cpu_shared(i)>

=head1 SYNOPSIS

    my $ctx = mx->cpu(1);            # AI::MXNet::Context->cpu(1)
    print "$ctx\n";                  # cpu(1)
    mx->nd->zeros([2, 2], ctx => $ctx);

C<gpu(i)> exists for MXNet code that names it; mxkv refuses to create arrays there.

=cut
