#!/bin/bash
set -u
python3 gpu/scripts/priority-probe.py --batch 1 --arm-s 0.3 --mixes mix1=albert+albert+densenet201,mix3=albert+densenet201+vgg19,mix4=alexnet+resnet152+vgg19,mix5=resnext101+shufflenet,mix7=alexnet+alexnet+alexnet,more1=vgg19+shufflenet+albert --out $OUT/b1 > $OUT/b1.log 2>&1
grep -v "^\[" $OUT/b1.log; tail -3 $OUT/b1.log | grep -i error
