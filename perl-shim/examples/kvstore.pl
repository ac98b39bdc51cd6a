#!/usr/bin/perl
# Data-parallel least squares through a local KVStore: two "devices" each compute the gradient
# of half of the batch, the store sums them and applies SGD, and both pull the new weights.
#
#   perl -Mblib examples/kvstore.pl      (from perl-shim/, after perl Makefile.PL && make)
use strict;
use warnings;
use PDL::Lite;
use AI::MXNet qw(mx);

my ($n, $dim) = (400, 3);
my $true_w = PDL->pdl([2, -1, 0.5]);
srand(1);
my $x = PDL->pdl([map { [map { rand(2) - 1 } 1 .. $dim] } 1 .. $n]);   # n rows of dim
my $y = ($x * $true_w)->sumover;

my @devs = (mx->cpu(0), mx->cpu(1));
my @shards = map { [$x->slice(":,$_"), $y->slice($_)] } ('0:199', '200:399');

my $kv = mx->kv->create('local');
$kv->init('w', mx->nd->zeros([$dim]));
$kv->set_optimizer(mx->optimizer->SGD(learning_rate => 1, momentum => 0.5, rescale_grad => 1 / $n));

my @w = map { mx->nd->zeros([$dim], ctx => $_) } @devs;      # each device's copy of the weights
for my $epoch (1 .. 30) {
    my @grads = map {
        my ($xs, $ys) = @{ $shards[$_] };
        my $err = ($xs * $w[$_]->aspdl)->sumover - $ys;          # prediction error per row
        my $grad = ($xs * $err->dummy(0))->xchg(0, 1)->sumover;  # sum of err * x over the rows
        mx->nd->array($grad, ctx => $devs[$_]);
    } 0 .. $#devs;
    $kv->push('w', \@grads);       # summed over the devices, then SGD on the stored weights
    $kv->pull('w', out => \@w);    # every device gets the new weights
    printf("epoch %2d  loss %.6f\n", $epoch, ((($x * $w[0]->aspdl)->sumover - $y)**2)->avg) if $epoch % 10 == 0;
}
printf("learned %s, true %s\n", $w[0]->aspdl, $true_w);
